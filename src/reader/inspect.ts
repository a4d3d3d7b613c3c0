import { open } from 'node:fs/promises';
import { join } from 'node:path';
import { AUDIT_COMPLETED, FileState, RunPhase } from '../protocol/names.ts';
import { readLaneStores } from './lanes/lane-checkpoints.ts';
import { createLineReader } from './line-reader.ts';
import { isHeldByWriter } from './locks.ts';
import { listChannels, scanChannel } from './scan.ts';

/** One run file as `gk-export inspect` reports it. */
export interface RunReport {
  readonly channel: string;
  readonly run: string;
  readonly file: string;
  readonly kind: 'audit' | 'admission';
  /**
   * In the reader's words ({@link RunPhase}): `open` while a writer holds it, `abandoned` once
   * none does; a completed audit run without its completion marker is `incomplete`.
   */
  readonly state: RunPhase;
  readonly lines: number;
  readonly violations: number;
  readonly byConstraint: Record<string, number>;
  /** Share of the file's bytes delivered, 0..100 (from the checkpoint; the least of all sinks). */
  readonly deliveredPct: number;
  /** With several sinks: the share each of them delivered, by name. */
  readonly deliveredPctBySink?: Record<string, number>;
}

/**
 * Reads every run file under the root (without changing anything) and the checkpoints, and
 * reports per run: state, lines, violations by constraint, and how much was delivered.
 *
 * @example
 * ```ts
 * for (const r of await inspectRoot('/tmp/violations/topics', '/tmp/violations/.gk-export-state')) console.log(r);
 * ```
 */
export async function inspectRoot(root: string, stateDir: string): Promise<RunReport[]> {
  const stores = await readLaneStores(stateDir);
  const reports: RunReport[] = [];
  for (const channel of await listChannels(root)) {
    const files = (await scanChannel(join(root, channel)))?.files ?? [];
    files.sort((a, b) => a.mtimeMs - b.mtimeMs || (a.name < b.name ? -1 : 1));
    for (const f of files) {
      if (f.type !== 'file' || f.state === 'admission-open') continue;
      const kind = f.state.startsWith('admission') ? 'admission' : 'audit';
      let fh;
      try {
        fh = await open(join(root, channel, f.name), 'r');
      } catch {
        continue;
      }
      try {
        const held = f.state === 'audit-open' && isHeldByWriter(fh.fd);
        const byConstraint: Record<string, number> = {};
        let lines = 0;
        let violations = 0;
        let sawCompletion = false;
        const reader = createLineReader(fh, { offset: 0, line: 0 }, { maxLineBytes: 64 << 20 });
        for (;;) {
          const batch = await reader.read(4096);
          if (batch.length === 0) break;
          for (const l of batch) {
            lines += 1;
            const text = l.bytes.toString('utf8');
            if (!text.includes('"eventType"')) {
              sawCompletion ||= isCompletionMarker(text);
              continue;
            }
            try {
              const msg = JSON.parse(text) as { name?: unknown };
              violations += 1;
              const name = typeof msg.name === 'string' ? msg.name : '';
              byConstraint[name] = (byConstraint[name] ?? 0) + 1;
            } catch {
              /* counted as a line, not a violation */
            }
          }
        }
        const bySink: Record<string, number> = {};
        for (const [sink, store] of stores) {
          const cp = [...store.entries()].find(
            (e) => e.channel === channel && e.run === f.run && e.ino === f.ino,
          );
          bySink[sink] = cp?.done
            ? 100
            : f.size === 0
              ? 0
              : Math.floor(((cp?.offset ?? 0) / f.size) * 100);
        }
        const deliveredPct = Math.min(...Object.values(bySink));
        reports.push({
          channel,
          run: f.run,
          file: f.name,
          kind,
          state: stateOf(f.state, held, sawCompletion),
          lines,
          violations,
          byConstraint,
          deliveredPct,
          ...(stores.size > 1 ? { deliveredPctBySink: bySink } : {}),
        });
      } finally {
        await fh.close();
      }
    }
  }
  return reports;
}

/** The state the reader gives a run, as far as a look at its file can tell. */
function stateOf(file: FileState, held: boolean, sawCompletion: boolean): RunPhase {
  if (file === FileState.AuditOpen) return held ? RunPhase.Open : RunPhase.Abandoned;
  if (file === FileState.AdmissionComplete || sawCompletion) return RunPhase.Complete;
  return RunPhase.Incomplete;
}

function isCompletionMarker(text: string): boolean {
  try {
    const msg = JSON.parse(text) as { message?: unknown };
    return msg.message === AUDIT_COMPLETED;
  } catch {
    return false;
  }
}

/** Renders reports as an aligned text table. */
export function formatInspectTable(reports: readonly RunReport[]): string {
  const rows = [
    ['CHANNEL', 'RUN', 'STATE', 'LINES', 'VIOLATIONS', 'DELIVERED', 'BY CONSTRAINT'],
    ...reports.map((r) => [
      r.channel,
      r.run,
      r.state,
      String(r.lines),
      String(r.violations),
      `${r.deliveredPct}%`,
      Object.entries(r.byConstraint)
        .map(([k, v]) => `${k}=${v}`)
        .join(' '),
    ]),
  ];
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((row) => row[i]!.length)));
  return (
    rows
      .map((row) =>
        row
          .map((c, i) => c.padEnd(widths[i]!))
          .join('  ')
          .trimEnd(),
      )
      .join('\n') + '\n'
  );
}
