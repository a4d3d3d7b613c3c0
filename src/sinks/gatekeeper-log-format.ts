import {
  formatGatekeeperLogLine,
  gatekeeperLogFields,
  type ConstraintRef,
} from '../protocol/gatekeeper-log.ts';
import type { Delivery } from './sink.ts';
import type { StdoutFormatter } from './stdout.ts';

interface RunTally {
  readonly constraints: Map<string, { ref: ConstraintRef; action: string; violations: number }>;
}

/**
 * `gatekeeper-log` format: the records as Gatekeeper-schema audit log lines —
 * `audit_started` at a run's start marker, `violation_audited` per record, and at the
 * completion marker one `constraint_audited` per constraint with its count, then
 * `audit_finished` (its `duration` is the time from the audit ID to the completion marker
 * being read: the export does not record the audit's own duration).
 *
 * @example
 * ```ts
 * createStdoutSink({ format: gatekeeperLogFormat() });
 * ```
 */
export function gatekeeperLogFormat(now: () => number = Date.now): StdoutFormatter {
  const runs = new Map<string, RunTally>();
  const tallyKey = (d: Delivery) => `${d.channel}/${d.run}`;
  return (batch: readonly Delivery[]) => {
    const lines: string[] = [];
    for (const d of batch) {
      const t = now();
      const auditId = d.msg.id ?? '';
      if (d.marker === 'started') {
        runs.set(tallyKey(d), { constraints: new Map() });
        lines.push(formatGatekeeperLogLine(gatekeeperLogFields.auditStarted(auditId), t));
      } else if (d.marker === 'completed') {
        const tally = runs.get(tallyKey(d));
        runs.delete(tallyKey(d));
        for (const c of tally?.constraints.values() ?? []) {
          lines.push(
            formatGatekeeperLogLine(
              gatekeeperLogFields.constraintAudited(auditId, c.ref, {
                violations: c.violations,
                action: c.action,
              }),
              t,
            ),
          );
        }
        const started = Date.parse(auditId);
        const duration = Number.isFinite(started) ? Math.max(0, (t - started) / 1000) : 0;
        lines.push(
          formatGatekeeperLogLine(gatekeeperLogFields.auditFinished(auditId, duration), t),
        );
      } else if (d.msg.eventType === 'violation_resolved') {
        // From --changes-only: a violation of the previous run that this run no longer has.
        const fields = gatekeeperLogFields.violationAudited(d.msg);
        lines.push(formatGatekeeperLogLine({ ...fields, event_type: 'violation_resolved' }, t));
      } else {
        const m = d.msg;
        lines.push(formatGatekeeperLogLine(gatekeeperLogFields.violationAudited(m), t));
        let tally = runs.get(tallyKey(d));
        if (!tally) runs.set(tallyKey(d), (tally = { constraints: new Map() }));
        const key = `${m.group}/${m.kind}/${m.namespace ?? ''}/${m.name}`;
        const c = tally.constraints.get(key);
        if (c) c.violations += 1;
        else {
          tally.constraints.set(key, {
            ref: {
              group: m.group ?? '',
              version: m.version ?? '',
              kind: m.kind ?? '',
              name: m.name ?? '',
              namespace: m.namespace,
            },
            action: m.enforcementAction ?? '',
            violations: 1,
          });
        }
      }
    }
    return lines.length ? lines.join('\n') + '\n' : '';
  };
}
