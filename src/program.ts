import { Command, Option } from 'commander';
import { readFileSync } from 'node:fs';
import { registerDemo } from './commands/demo.ts';
import { registerInspect } from './commands/inspect.ts';
import { registerRead } from './commands/read.ts';
import { registerWrite } from './commands/write.ts';
import { defaultLogFormat, LOG_FORMATS, setLogFormat, type LogFormat } from './telemetry/index.ts';

/** The package's version: package.json sits one level above both src/ and dist/. */
function packageVersion(): string {
  try {
    const pkg = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8'));
    return String((pkg as { version?: unknown }).version ?? 'unknown');
  } catch {
    // A copy without its package.json still runs; it just cannot say which version it is.
    return 'unknown';
  }
}

/**
 * Builds the `gk-export` command line. Each subcommand lives in its own module under
 * `src/commands/` and is registered here; `--log-format` and `--version` belong to all.
 *
 * @example
 * ```ts
 * await buildProgram().parseAsync(['node', 'gk-export', 'inspect']);
 * ```
 */
export function buildProgram(): Command {
  const program = new Command('gk-export')
    .description("Reader sidecar and writer for OPA Gatekeeper's disk export of violations")
    .version(packageVersion(), '-V, --version', 'print the version and exit')
    .addOption(
      new Option(
        '--log-format <format>',
        'operational logs on stderr: json or text (default: text on a terminal, else json)',
      )
        .env('GK_EXPORT_LOG_FORMAT')
        .choices(LOG_FORMATS),
    )
    .hook('preAction', async () => {
      const chosen = program.opts<{ logFormat?: LogFormat }>().logFormat;
      await setLogFormat(chosen ?? defaultLogFormat(process.stderr.isTTY === true));
    })
    .configureHelp({ showGlobalOptions: true })
    .showSuggestionAfterError(true)
    .exitOverride()
    .configureOutput({ writeErr: (s) => process.stderr.write(s) });
  registerRead(program);
  registerInspect(program);
  registerWrite(program);
  registerDemo(program);
  return program;
}
