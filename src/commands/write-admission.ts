import { isGkExportError } from '../errors.ts';
import type { ExportMsg } from '../protocol/record.ts';
import { stdinLines } from './stdin-lines.ts';
import {
  createAdmissionWriter,
  encodeAdmissionRecord,
  type AdmissionWriter,
} from '../writer/index.ts';

/** Records handed to the writer at once: each batch is made durable with one fsync. */
const BATCH = 256;

/**
 * A writer that cannot be set up (bad root, channel or limits): one line and exit status 2.
 * Anything that is not a GkExportError is a bug and propagates.
 */
export function refuseSetup(err: unknown): void {
  if (!isGkExportError(err)) throw err;
  process.stderr.write(`gk-export write: ${err.message}\n`);
  process.exitCode = 2;
}

/**
 * `gk-export write --admission`: ExportMsg lines on stdin become admission segments in
 * `<root>/<channel>`, exactly as a Gatekeeper 3.24 webhook pod writes them (rotation, spool
 * limits, 64 KiB record limit). A bad line stops the command with exit 1 and `line N: why`
 * after the lines before it are written — unless `skipInvalid`, which skips and counts it.
 * `lineProblem` is the audit write's own check of a line (JSON, field types).
 *
 * @example
 * ```ts
 * await writeAdmission({ root: '/tmp/violations/topics', channel: 'audit-channel' }, lineProblem);
 * ```
 */
export async function writeAdmission(
  opts: { root: string; channel: string; maxRecordBytes: number; skipInvalid?: boolean },
  lineProblem: (text: string) => string | undefined,
  tooLong: (n: number, max: number) => string,
): Promise<void> {
  let writer: AdmissionWriter;
  try {
    writer = createAdmissionWriter({ root: opts.root, channel: opts.channel });
  } catch (err) {
    refuseSetup(err);
    return;
  }
  let written = 0;
  let skipped = 0;
  let batch: ExportMsg[] = [];
  const flush = async () => {
    if (batch.length === 0) return;
    await writer.writeBatch(batch);
    written += batch.length;
    batch = [];
  };
  try {
    for await (const line of stdinLines(process.stdin, opts.maxRecordBytes)) {
      if (line.tooLong) {
        await flush();
        process.stderr.write(tooLong(line.n, opts.maxRecordBytes));
        process.stderr.write(`wrote ${written} admission records to ${writer.dir} before it\n`);
        process.exitCode = 1;
        return;
      }
      const { n: lineNo, text } = line;
      if (text.trim() === '') continue;
      let problem = lineProblem(text);
      let msg: ExportMsg | undefined;
      if (!problem) {
        msg = JSON.parse(text) as ExportMsg;
        try {
          encodeAdmissionRecord(msg, writer.limits);
        } catch (err) {
          if (!isGkExportError(err)) throw err;
          problem = err.message;
        }
      }
      if (problem || !msg) {
        if (opts.skipInvalid) {
          skipped += 1;
          process.stderr.write(`line ${lineNo}: skipped: ${problem}\n`);
          continue;
        }
        await flush();
        process.stderr.write(`line ${lineNo}: ${problem}\n`);
        process.stderr.write(`wrote ${written} admission records to ${writer.dir} before it\n`);
        process.exitCode = 1;
        return;
      }
      batch.push(msg);
      if (batch.length >= BATCH) await flush();
    }
    await flush();
  } catch (err) {
    // The spool refused the records (a reader holds a segment the limits would remove, the
    // disk is too full): nothing past what was written is claimed.
    if (!isGkExportError(err)) throw err;
    process.stderr.write(`gk-export write: ${err.message}; wrote ${written} records\n`);
    process.exitCode = 1;
    return;
  } finally {
    await writer.close();
  }
  process.stderr.write(
    `wrote ${written} admission records to ${writer.dir}${skipped ? `; skipped ${skipped} invalid lines` : ''}\n`,
  );
}
