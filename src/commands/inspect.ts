import type { Command } from 'commander';
import { boolOption, setting } from '../config/commander.ts';
import { DEFAULTS, defaultStateDir } from '../config/defaults.ts';
import { parsePath } from '../config/parsers.ts';

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
    .addOption(
      setting('--root <dir>', 'export root', { env: 'ROOT_PATH', default: DEFAULTS.volume.root }),
    )
    .addOption(
      setting('--state-dir <dir>', 'reader state dir (default: beside the root)', {
        env: 'GK_EXPORT_STATE_DIR',
      }),
    )
    .addOption(boolOption('--json', 'print JSON lines instead of a table'))
    .action(async (opts: { root: string; stateDir?: string; json?: boolean }) => {
      const root = parsePath(opts.root);
      const stateDir = opts.stateDir ? parsePath(opts.stateDir) : defaultStateDir(root);
      // Loaded only when inspecting: no other command needs it.
      const { formatInspectTable, inspectRoot } = await import('../reader/inspect.ts');
      const reports = await inspectRoot(root, stateDir);
      if (opts.json) {
        for (const r of reports) process.stdout.write(JSON.stringify(r) + '\n');
      } else {
        process.stdout.write(formatInspectTable(reports));
      }
    });
}
