import { Command } from 'commander';
import { registerDemo } from './commands/demo.ts';
import { registerInspect } from './commands/inspect.ts';
import { registerRead } from './commands/read.ts';
import { registerWrite } from './commands/write.ts';

/**
 * Builds the `gk-export` command line. Each subcommand lives in its own module under
 * `src/commands/` and is registered here.
 *
 * @example
 * ```ts
 * await buildProgram().parseAsync(['node', 'gk-export', 'inspect']);
 * ```
 */
export function buildProgram(): Command {
  const program = new Command('gk-export')
    .description("Reader sidecar and writer for OPA Gatekeeper's disk export of violations")
    .showSuggestionAfterError(true)
    .exitOverride()
    .configureOutput({ writeErr: (s) => process.stderr.write(s) });
  registerRead(program);
  registerInspect(program);
  registerWrite(program);
  registerDemo(program);
  return program;
}
