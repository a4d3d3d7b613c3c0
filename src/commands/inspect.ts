import { Option, type Command } from 'commander';
import { dirname, join, resolve } from 'node:path';
import { boolOption } from '../bool-option.ts';
import { formatInspectTable, inspectRoot } from '../reader/inspect.ts';
import { DEFAULT_ROOT } from '../reader/options.ts';

/**
 * Registers `gk-export inspect`: a table of runs per channel with delivery progress.
 *
 * @example
 * ```ts
 * registerInspect(program); // gk-export inspect --root /tmp/violations/topics
 * ```
 */
export function registerInspect(program: Command): void {
  program
    .command('inspect')
    .description('show the runs on the volume: state, lines, violations, delivered %')
    .addOption(new Option('--root <dir>', 'export root').env('ROOT_PATH').default(DEFAULT_ROOT))
    .addOption(
      new Option('--state-dir <dir>', 'reader state dir (default: beside the root)').env(
        'GK_EXPORT_STATE_DIR',
      ),
    )
    .addOption(boolOption('--json', 'print JSON lines instead of a table'))
    .action(async (opts: { root: string; stateDir?: string; json?: boolean }) => {
      const root = resolve(opts.root);
      const stateDir = opts.stateDir
        ? resolve(opts.stateDir)
        : join(dirname(root), '.gk-export-state');
      const reports = await inspectRoot(root, stateDir);
      if (opts.json) {
        for (const r of reports) process.stdout.write(JSON.stringify(r) + '\n');
      } else {
        process.stdout.write(formatInspectTable(reports));
      }
    });
}
