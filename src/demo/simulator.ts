import { DEFAULTS } from '../config/defaults.ts';
import { auditIdFor } from '../protocol/names.ts';
import type { AuditLogger } from '../writer/audit-log.ts';
import { createDiskWriter } from '../writer/disk-writer.ts';
import { buildCluster, evolveCluster, seededRandom } from './cluster.ts';
import { auditCluster, DEMO_CONSTRAINTS } from './constraints.ts';

export interface DemoAuditorOptions {
  readonly root: string;
  readonly channel?: string;
  readonly intervalMs: number;
  /** Audits to run; 0 runs until the signal aborts. */
  readonly runs: number;
  readonly maxAuditResults: number;
  readonly signal: AbortSignal;
  readonly auditLog: AuditLogger;
  readonly seed?: number;
}

/**
 * The demo's audit process: every interval it audits the built-in cluster against the three
 * constraints and exports the run through the disk writer, logging in Gatekeeper's schema.
 * Resolves when `runs` audits are done or the signal aborts (a run in progress completes).
 *
 * @example
 * ```ts
 * await startDemoAuditor({ root, intervalMs: 5000, runs: 0, maxAuditResults: 3, signal, auditLog });
 * ```
 */
export async function startDemoAuditor(opts: DemoAuditorOptions): Promise<number> {
  const channel = opts.channel ?? DEFAULTS.volume.channel;
  const writer = createDiskWriter({ root: opts.root, maxAuditResults: opts.maxAuditResults });
  const rand = seededRandom(opts.seed ?? 42);
  let objects = buildCluster(rand);
  let lastSecond = 0;
  let done = 0;
  try {
    while (!opts.signal.aborted && (opts.runs === 0 || done < opts.runs)) {
      const started = Date.now();
      // Audit IDs have whole seconds: never reuse one, even with a sub-second interval.
      const second = Math.max(Math.floor(started / 1000), lastSecond + 1);
      lastSecond = second;
      const auditId = auditIdFor(new Date(second * 1000));
      opts.auditLog.auditStarted(auditId);
      const violations = auditCluster(objects, DEMO_CONSTRAINTS, auditId);
      const run = await writer.startRun(channel, auditId);
      for (const v of violations) {
        await run.write(v);
        opts.auditLog.violationAudited(v);
      }
      await run.complete();
      for (const c of DEMO_CONSTRAINTS) {
        opts.auditLog.constraintAudited(
          auditId,
          { group: 'constraints.gatekeeper.sh', version: 'v1beta1', kind: c.kind, name: c.name },
          {
            violations: violations.filter((v) => v.name === c.name).length,
            action: c.enforcementAction,
          },
        );
      }
      opts.auditLog.auditFinished(auditId, (Date.now() - started) / 1000);
      done += 1;
      objects = evolveCluster(objects, rand);
      if (opts.runs !== 0 && done >= opts.runs) break;
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, opts.intervalMs);
        opts.signal.addEventListener('abort', () => (clearTimeout(t), resolve()), { once: true });
      });
    }
  } finally {
    await writer.close();
  }
  return done;
}
