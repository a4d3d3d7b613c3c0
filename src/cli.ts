#!/usr/bin/env node
import { Command, CommanderError } from 'commander';

/**
 * Builds the `gk-export` command line. Each subcommand lives in its own module under
 * `src/commands/`.
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
  return program;
}

async function main(argv: string[]): Promise<void> {
  const program = buildProgram();
  try {
    await program.parseAsync(argv);
  } catch (err) {
    if (err instanceof CommanderError) {
      // Help and version exit 0; usage errors (unknown command/flag, bad value) exit 2.
      process.exitCode = err.exitCode === 0 ? 0 : 2;
      return;
    }
    process.stderr.write(`gk-export: ${(err as Error).message}\n`);
    process.exitCode = 1;
  }
}

await main(process.argv);
