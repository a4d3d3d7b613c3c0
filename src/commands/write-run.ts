import { auditIdFor } from '../protocol/names.ts';
import { validateExportMsg } from '../protocol/validate.ts';
import { createDiskWriter } from '../writer/index.ts';
import { stdinLines } from './stdin-lines.ts';
import { refuseSetup, writeAdmission } from './write-admission.ts';

/** The message for a line over --max-record-bytes. */
export const tooLong = (n: number, max: number) =>
  `line ${n}: longer than --max-record-bytes (${max} bytes)\n`;

/** Why a stdin line cannot be written, or undefined when it can. */
export function lineProblem(text: string): string | undefined {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (err) {
    return `not JSON: ${(err as Error).message}`;
  }
  const r = validateExportMsg(value);
  if (!r.ok) {
    return r.errors
      .map((e) => `${e.field || 'record'}: expected ${e.expected}, got ${e.got}`)
      .join('; ');
  }
  if (
    !r.msg.eventType &&
    (r.msg.message === 'audit is started' || r.msg.message === 'audit is completed')
  ) {
    return 'run markers are added by the writer; give violations only';
  }
  return undefined;
}

/** `gk-export write`'s settings, as its options parse them. */
export interface WriteOptions {
  readonly root: string;
  readonly channel: string;
  readonly auditId?: string;
  readonly maxAuditResults: number;
  readonly maxRecordBytes: number;
  readonly skipInvalid?: boolean;
  readonly admission?: boolean;
}

/**
 * Runs `gk-export write`: ExportMsg JSON lines on stdin become one complete audit run (or, with
 * `admission`, admission segments). Loaded only when writing: the writer is no part of `read`.
 *
 * @example
 * ```ts
 * await runWrite({ root: '/tmp/violations/topics', channel: 'audit-channel', maxAuditResults: 3, maxRecordBytes: 2 << 20 });
 * ```
 */
export async function runWrite(opts: WriteOptions): Promise<void> {
  if (opts.admission) return writeAdmission(opts, lineProblem, tooLong);
  const auditId = opts.auditId ?? auditIdFor(new Date());
  let writer;
  let run;
  try {
    writer = createDiskWriter({ root: opts.root, maxAuditResults: opts.maxAuditResults });
    run = await writer.startRun(opts.channel, auditId);
  } catch (err) {
    refuseSetup(err);
    return;
  }
  let skipped = 0;
  let written = 0;
  const stop = async (message: string) => {
    await run.abort();
    process.stderr.write(message);
    process.exitCode = 1;
  };
  try {
    for await (const line of stdinLines(process.stdin, opts.maxRecordBytes)) {
      if (line.tooLong) {
        // Over the limit aborts, skip or not: the line cannot be read whole.
        return await stop(tooLong(line.n, opts.maxRecordBytes));
      }
      const { n, text } = line;
      if (text.trim() === '') continue;
      const problem = lineProblem(text);
      if (problem) {
        if (opts.skipInvalid) {
          skipped += 1;
          process.stderr.write(`line ${n}: skipped: ${problem}\n`);
          continue;
        }
        return await stop(`line ${n}: ${problem}\n`);
      }
      const msg = JSON.parse(text) as { id?: string };
      await run.write({ ...msg, id: msg.id || auditId });
      written += 1;
    }
  } catch (err) {
    // stdin itself failed.
    await run.abort();
    throw err;
  }
  const done = await run.complete();
  process.stderr.write(
    `wrote ${written} violations to ${done.path}${skipped ? `; skipped ${skipped} invalid lines` : ''}\n`,
  );
}
