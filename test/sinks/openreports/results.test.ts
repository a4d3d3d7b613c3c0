import { describe, expect, it } from 'vitest';
import { reportTarget } from '../../../src/sinks/openreports/reports.ts';
import { resultOf, timestampOf, toReportResult } from '../../../src/sinks/openreports/results.ts';
import { violation } from '../../helpers/runs.ts';

describe('OpenReports results', () => {
  it.each([
    ['deny', undefined, 'fail'],
    [undefined, undefined, 'fail'],
    ['warn', undefined, 'warn'],
    ['dryrun', undefined, 'warn'],
    ['scoped', ['warn', 'dryrun'], 'warn'],
    ['scoped', ['warn', 'deny'], 'fail'],
    ['scoped', [], 'fail'],
    ['something-new', undefined, 'fail'],
  ])('maps enforcement action %s (%j) to %s', (enforcementAction, enforcementActions, result) => {
    expect(resultOf({ enforcementAction, enforcementActions })).toBe(result);
  });

  it('names the resource with its group/version, and keeps scoped actions as a property', () => {
    const r = toReportResult(
      violation('2026-01-01T00:00:00Z', 3, {
        resourceGroup: 'apps',
        resourceAPIVersion: 'v1',
        resourceKind: 'Deployment',
        enforcementAction: 'scoped',
        enforcementActions: ['deny', 'warn'],
        timestamp: '2026-01-01T00:00:09.123456789Z',
      }),
      'fallback',
    );
    expect(r.resources).toEqual([
      { apiVersion: 'apps/v1', kind: 'Deployment', namespace: 'ns-3', name: 'pod-3' },
    ]);
    expect(r.properties.enforcementActions).toBe('deny,warn');
    expect(r.timestamp).toEqual({ seconds: 1767225609, nanos: 123456789 });
  });

  it('takes the audit id as the time when a record has no timestamp', () => {
    expect(timestampOf('2026-01-01T00:00:00Z')).toEqual({ seconds: 1767225600, nanos: 0 });
    expect(timestampOf('not a time')).toBeUndefined();
  });

  it('makes report names and labels valid, and distinct for channels that differ', () => {
    expect(reportTarget('audit-channel')).toEqual({
      name: 'gatekeeper-audit-channel',
      channelLabel: 'audit-channel',
    });
    const a = reportTarget('Audit_Channel');
    const b = reportTarget('audit.channel');
    expect(a.name).toMatch(/^gatekeeper-audit-channel-[0-9a-f]{8}$/);
    expect(a.name).not.toBe(b.name);
    expect(reportTarget('x'.repeat(100)).channelLabel.length).toBeLessThanOrEqual(63);
  });
});
