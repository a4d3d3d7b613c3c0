import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';

/** The repository root. */
export const REPO = fileURLToPath(new URL('../../', import.meta.url));
/** The CLI source entry; Node 24 runs it directly (type stripping). */
export const CLI = fileURLToPath(new URL('../../src/cli.ts', import.meta.url));
/** The built CLI, as the image runs it (`npm test` builds it first). */
export const BUILT_CLI = fileURLToPath(new URL('../../dist/cli.js', import.meta.url));

/** A running CLI process with its output collected. */
export interface CliProcess {
  readonly child: ChildProcess;
  stdout(): string;
  stderr(): string;
  /** stdout split in complete lines. */
  lines(): string[];
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

/**
 * Spawns `gk-export <args>` as a real process on the same Node as the tests.
 *
 * @example
 * ```ts
 * const p = runCli(['read', '--root', root]);
 * ```
 */
export function runCli(
  args: string[],
  opts: { env?: NodeJS.ProcessEnv; input?: string; nodeArgs?: string[]; entry?: string } = {},
): CliProcess {
  const child = spawn(process.execPath, [...(opts.nodeArgs ?? []), opts.entry ?? CLI, ...args], {
    env: { ...process.env, ...opts.env },
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  let out = '';
  let err = '';
  child.stdout!.setEncoding('utf8').on('data', (s: string) => (out += s));
  child.stderr!.setEncoding('utf8').on('data', (s: string) => (err += s));
  // A process that exits before reading all its input closes the pipe: not a test failure.
  child.stdin!.on('error', () => undefined);
  if (opts.input !== undefined) child.stdin!.end(opts.input);
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.on('close', (code, signal) => resolve({ code, signal })),
  );
  return {
    child,
    stdout: () => out,
    stderr: () => err,
    lines: () => out.split('\n').slice(0, -1),
    exited,
  };
}

/** `read` on a root and a state dir, with the HTTP server on a free port. */
export function readArgs(root: string, stateDir: string, ...more: string[]): string[] {
  return ['read', '--http-port', '0', '--root', root, '--state-dir', stateDir, ...more];
}
