import type { DeadLetter } from '../dead-letter.ts';
import type { Telemetry } from '../telemetry/index.ts';
import { createFanout } from './fanout.ts';
import type { OpenReportsConfig } from './openreports/options.ts';
import type { Sink } from './sink.ts';

/** The Gatekeeper-aware outputs `read` adds to its sinks. */
export interface OutputOptions {
  /** `--changes-only`: every record sink (not OpenReports) gets only what changed. */
  readonly changesOnly: boolean;
  /** `--sink openreports`. */
  readonly openreports?: OpenReportsConfig;
  /** The state dir of this reader run (where the checkpoint is). */
  readonly stateDir: string;
  readonly telemetry: Telemetry;
  readonly deadLetter: DeadLetter;
}

/**
 * The reader's sink for one run of the reader: the record sinks, each wrapped by
 * `--changes-only` when asked (each keeps its own state, named after it), plus the
 * OpenReports sink, which always takes whole runs (a report replaces the previous one). Both
 * are loaded only when selected.
 *
 * @example
 * ```ts
 * const sink = await withOutputs([stdout], { changesOnly: true, stateDir, telemetry, deadLetter });
 * ```
 */
export async function withOutputs(
  parts: readonly (Sink & { interrupt?(): void })[],
  opts: OutputOptions,
): Promise<Sink & { interrupt(): void; giveUp(): void }> {
  let sinks = [...parts];
  if (opts.changesOnly) {
    const { withChangesOnly } = await import('./changes-only/changes-only.ts');
    sinks = sinks.map((s) =>
      withChangesOnly(s, { stateDir: opts.stateDir, scope: s.name, telemetry: opts.telemetry }),
    );
  }
  if (opts.openreports) {
    const { createOpenReportsSink } = await import('./openreports/openreports-sink.ts');
    sinks.push(
      await createOpenReportsSink(opts.openreports, {
        telemetry: opts.telemetry,
        deadLetter: opts.deadLetter,
        stateDir: opts.stateDir,
      }),
    );
  }
  return createFanout(sinks);
}
