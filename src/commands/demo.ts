import { Option, type Command } from 'commander';
import { setting } from '../config/commander.ts';
import { DEFAULTS } from '../config/defaults.ts';
import { formatDuration, parseDuration } from '../config/duration.ts';
import { integer } from '../config/parsers.ts';
import type { DemoOptions } from './demo-run.ts';

/**
 * Registers `gk-export demo` (what `npm start` runs): a simulated cluster is audited every
 * few seconds and exported through the writer, and the reader beside it prints every
 * violation on stdout.
 *
 * @example
 * ```ts
 * registerDemo(program); // gk-export demo --interval 5s
 * ```
 */
export function registerDemo(program: Command): void {
  program
    .command('demo')
    .description('audit a built-in cluster every few seconds, export it and read it back')
    .addOption(new Option('--root <dir>', 'export root (default: a new temp dir)'))
    .addOption(
      setting('--interval <duration>', 'time between audits', {
        parse: parseDuration,
        default: DEFAULTS.demo.intervalMs,
        show: formatDuration,
      }),
    )
    .addOption(
      setting('--runs <n>', 'audits to run (0 = until Ctrl-C)', {
        parse: integer(0, undefined, '0 = until stopped'),
        default: DEFAULTS.demo.runs,
      }),
    )
    .addOption(
      setting('--max-audit-results <n>', 'completed runs kept (0..5)', {
        parse: integer(0, 5),
        default: DEFAULTS.volume.maxAuditResults,
      }),
    )
    .addOption(new Option('--no-reader', 'only write; do not run the reader'))
    .action(async (opts: DemoOptions) => {
      // Loaded only when the demo runs: `read` never loads the writer or the simulator.
      const { runDemo } = await import('./demo-run.ts');
      await runDemo(opts);
    });
}
