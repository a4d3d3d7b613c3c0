import type { Command } from 'commander';
import { formatByteSize, parseByteSize } from '../config/byte-size.ts';
import { boolOption, setting } from '../config/commander.ts';
import { DEFAULTS } from '../config/defaults.ts';
import { integer } from '../config/parsers.ts';
import type { WriteOptions } from './write-run.ts';

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
    .action(async (opts: WriteOptions) => {
      // Loaded only when writing: `read` never loads the writer.
      const { runWrite } = await import('./write-run.ts');
      await runWrite(opts);
    });
}
