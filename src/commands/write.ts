import type { Command } from 'commander';
import { formatByteSize, parseByteSize } from '../config/byte-size.ts';
import { boolOption, setting } from '../config/commander.ts';
import { DEFAULTS } from '../config/defaults.ts';
import { integer } from '../config/parsers.ts';
import { isGkExportError } from '../errors.ts';
import { auditIdFor } from '../protocol/names.ts';
import { validateExportMsg } from '../protocol/validate.ts';
import { createDiskWriter } from '../writer/index.ts';
import { stdinLines } from './stdin-lines.ts';
import { writeAdmission } from './write-admission.ts';

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

/**
 * Registers `gk-export write`: ExportMsg JSON lines on stdin become one complete audit run.
 *
 * @example
 * ```ts
 * registerWrite(program); // jq -c '.[]' v.json | gk-export write --root /tmp/violations/topics --channel audit-channel
 * ```
 */
export function registerWrite(program: Command): void {
  program
    .command('write')
    .description('write ExportMsg JSON lines from stdin as one complete audit run')
    .addOption(
      setting('--root <dir>', 'export root', { env: 'ROOT_PATH', default: DEFAULTS.volume.root }),
    )
    .addOption(
      setting('--channel <name>', 'channel (directory) to write to', {
        default: DEFAULTS.volume.channel,
      }),
    )
    .addOption(setting('--audit-id <id>', 'audit ID (RFC 3339 UTC; default: now)', {}))
    .addOption(
      setting('--max-audit-results <n>', 'completed runs kept in the channel (0..5)', {
        parse: integer(0, 5),
        default: DEFAULTS.volume.maxAuditResults,
      }),
    )
    .addOption(
      setting('--max-record-bytes <size>', 'longest line accepted; a longer one aborts the run', {
        parse: parseByteSize,
        default: DEFAULTS.volume.maxRecordBytes,
        show: formatByteSize,
      }),
    )
    .addOption(boolOption('--skip-invalid', 'skip and count bad lines instead of aborting the run'))
    .addOption(
      boolOption(
        '--admission',
        'write violation_admission lines as admission segments, as a webhook pod does',
      ),
    )
    .action(
      async (opts: {
        root: string;
        channel: string;
        auditId?: string;
        maxAuditResults: number;
        maxRecordBytes: number;
        skipInvalid?: boolean;
        admission?: boolean;
      }) => {
        if (opts.admission) return writeAdmission(opts, lineProblem, tooLong);
        const auditId = opts.auditId ?? auditIdFor(new Date());
        let writer;
        let run;
        try {
          writer = createDiskWriter({ root: opts.root, maxAuditResults: opts.maxAuditResults });
          run = await writer.startRun(opts.channel, auditId);
        } catch (err) {
          if (!isGkExportError(err)) throw err;
          process.stderr.write(`gk-export write: ${err.message}\n`);
          process.exitCode = 2;
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
      },
    );
}
