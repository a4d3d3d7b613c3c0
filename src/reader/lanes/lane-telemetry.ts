import type { Telemetry } from '../../telemetry/index.ts';
import { Counter } from '../../telemetry/metric-types.ts';

/** An unserved copy of a counter (same name, help and labels). */
const unserved = <L extends string>(c: Counter<L>) =>
  new Counter<L>({ name: c.name, help: c.help, labelNames: c.labelNames });

/**
 * The telemetry one sink's lane counts with. Every lane reads the whole volume, so what the
 * volume holds (lines read, runs found and finished, audit events that are not denials) is
 * counted by the first lane alone, as bad lines are reported by it alone; the other lanes count
 * those into copies that are not served. What concerns a lane's own sink (records delivered,
 * filtered, retried, its lag) and the runs a lane lost are counted by every lane.
 *
 * @example
 * ```ts
 * runLane(spec, store, { telemetry: laneTelemetry(telemetry, i === 0), … });
 * ```
 */
export function laneTelemetry(telemetry: Telemetry, first: boolean): Telemetry {
  if (first) return telemetry;
  const m = telemetry.metrics;
  return {
    log: telemetry.log,
    metrics: {
      ...m,
      recordsRead: unserved(m.recordsRead),
      runsPushed: unserved(m.runsPushed),
      runsPopped: unserved(m.runsPopped),
      runsCompleted: unserved(m.runsCompleted),
      auditEventsSkipped: unserved(m.auditEventsSkipped),
    },
  };
}
