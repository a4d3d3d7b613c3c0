import { describe, expect, it } from 'vitest';
import { encodeExportMsg } from '../../src/protocol/encode.ts';
import type { ExportMsg } from '../../src/protocol/record.ts';
import { gatekeeperLogFormat } from '../../src/sinks/gatekeeper-log-format.ts';
import type { Delivery } from '../../src/sinks/sink.ts';
import { violation } from '../helpers/runs.ts';

const AUDIT_ID = '2026-01-01T00:00:00Z';
const NOW = Date.parse(AUDIT_ID) + 12_500;

/** The records of one run as a source delivers them: markers around `n` violations. */
function run(channel: string, n: number, auditId = AUDIT_ID): Delivery[] {
  const d = (line: number, msg: ExportMsg, marker?: 'started' | 'completed'): Delivery => ({
    key: `${channel}/r/${line}`,
    source: 'audit',
    channel,
    run: auditId.replaceAll(':', '_'),
    line,
    raw: encodeExportMsg(msg),
    msg,
    ...(marker ? { marker } : {}),
  });
  return [
    d(1, { id: auditId, message: 'audit is started' }, 'started'),
    ...Array.from({ length: n }, (_, i) => d(i + 2, violation(auditId, i))),
    d(n + 2, { id: auditId, message: 'audit is completed' }, 'completed'),
  ];
}

const parse = (out: string | Buffer | Buffer[]) =>
  String(out)
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l) as Record<string, unknown>);

describe('gatekeeper-log format', () => {
  it("prints a run as Gatekeeper's audit log: started, each violation, each constraint's count, finished", () => {
    const lines = parse(gatekeeperLogFormat(() => NOW)(run('c', 7)));
    expect(lines.map((l) => l.event_type)).toEqual([
      'audit_started',
      ...Array(7).fill('violation_audited'),
      'constraint_audited',
      'constraint_audited',
      'constraint_audited',
      'audit_finished',
    ]);
    for (const l of lines) {
      expect(l).toMatchObject({ level: 'info', ts: NOW / 1000, logger: 'controller' });
      expect(l).toMatchObject({ process: 'audit', audit_id: AUDIT_ID });
    }
    const v = lines[1]!;
    const first = violation(AUDIT_ID, 0);
    expect(v).toMatchObject({
      msg: first.message,
      constraint_kind: first.kind,
      constraint_name: first.name,
      constraint_action: first.enforcementAction,
      resource_kind: 'Pod',
      resource_namespace: 'ns-0',
      resource_name: 'pod-0',
      resource_labels: first.resourceLabels,
      details: first.details,
    });
    // Counts per constraint, as strings like Gatekeeper's (violations 0..6 over 3 constraints).
    const counts = Object.fromEntries(
      lines
        .filter((l) => l.event_type === 'constraint_audited')
        .map((l) => [l.constraint_name, l.constraint_violations]),
    );
    expect(counts).toEqual({ 'constraint-0': '3', 'constraint-1': '2', 'constraint-2': '2' });
    // The duration runs from the audit ID to the completion marker being read.
    expect(lines.at(-1)).toMatchObject({ msg: 'auditing is complete', duration: 12.5 });
  });

  it('tallies a run across batches, and runs of different channels apart', () => {
    const format = gatekeeperLogFormat(() => NOW);
    const a = run('a', 4);
    const b = run('b', 2);
    const out = [
      ...parse(format([...a.slice(0, 3), ...b.slice(0, 2)])),
      ...parse(format([...a.slice(3), ...b.slice(2)])),
    ];
    const finished = out.filter((l) => l.event_type === 'constraint_audited');
    const total = finished.reduce((n, l) => n + Number(l.constraint_violations), 0);
    expect(total).toBe(6);
    expect(out.filter((l) => l.event_type === 'audit_finished')).toHaveLength(2);
  });

  it('still counts a run whose start it never saw (the reader resumed mid-run)', () => {
    const lines = parse(gatekeeperLogFormat(() => NOW)(run('c', 3).slice(2)));
    expect(lines.map((l) => l.event_type)).toEqual([
      'violation_audited',
      'violation_audited',
      'constraint_audited',
      'constraint_audited',
      'audit_finished',
    ]);
  });

  it('prints nothing for an empty batch', () => {
    expect(gatekeeperLogFormat()([])).toBe('');
  });
});
