import { describe, expect, it } from 'vitest';
import { VIOLATION_RESOLVED } from '../../../src/sinks/changes-only/changes-only.ts';
import { gatekeeperLogFormat } from '../../../src/sinks/gatekeeper-log-format.ts';
import { formatSpec } from '../../../src/sinks/webhook/formats.ts';
import { deliveriesOf, violation } from '../../helpers/runs.ts';

// A violation_resolved record was shown as audited by CloudEvents and gatekeeper-log output.
describe('violation_resolved records in the other formats', () => {
  const [resolved] = deliveriesOf([
    { ...violation('2026-01-01T00:00:01Z', 4), eventType: VIOLATION_RESOLVED },
  ]);

  it('are CloudEvents of type sh.gatekeeper.violation.resolved', () => {
    const spec = formatSpec('cloudevents-batch', { clusterName: 'c', host: 'h' });
    const [event] = JSON.parse(String(spec.encode([resolved!]).body)) as { type: string }[];
    expect(event!.type).toBe('sh.gatekeeper.violation.resolved');
  });

  it('are gatekeeper-log lines with event_type violation_resolved', () => {
    const text = String(gatekeeperLogFormat(() => 0)([resolved!]));
    expect(JSON.parse(text)).toMatchObject({
      event_type: 'violation_resolved',
      resource_name: 'pod-4',
    });
  });
});
