import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, beforeEach } from 'vitest';
import { readArgs, runCli, type CliProcess } from './cli.ts';
import { startReader } from './reader.ts';
import { startReceiver } from './receiver.ts';
import { makeTmpDir } from './tmp.ts';

/** What a test works in; valid from `beforeEach` to `afterEach`. */
export interface Workspace {
  /** The test's own temp dir. */
  readonly dir: string;
  /** The export root, `<dir>/topics` (created unless `createRoot: false`). */
  readonly root: string;
  /** The reader's state dir, `<dir>/state` (not created: the reader makes it). */
  readonly state: string;
  /** A path inside the temp dir. */
  path(...parts: string[]): string;
  /** Runs `fn` after the test, before everything registered earlier (last in, first out). */
  defer(fn: () => unknown): void;
  /** The reader in this process on `root` and `state`, stopped after the test. */
  reader(over: Parameters<typeof startReader>[2]): ReturnType<typeof startReader>;
  /** `gk-export <args>` as a real process; killed after the test if it still runs. */
  cli(args: string[], opts?: Parameters<typeof runCli>[1]): CliProcess;
  /** `gk-export read` on `root` and `state` (HTTP port 0) as a real process, like `cli`. */
  readerProcess(more?: string[], opts?: Parameters<typeof runCli>[1]): CliProcess;
  /** A loopback HTTP(S) receiver on port 0, closed after the test. */
  receiver(opts?: Parameters<typeof startReceiver>[0]): ReturnType<typeof startReceiver>;
}

/**
 * Registers the `beforeEach`/`afterEach` pair that most test files repeat: a fresh temp dir
 * with an export root and a state dir for each test, and everything the test starts through
 * the workspace — in-process readers, reader processes, receivers, `defer`red clean-ups —
 * stopped after it in reverse order (a process still running is killed with SIGKILL and
 * waited for), then the dir removed. Call it inside `describe`.
 *
 * @example
 * ```ts
 * describe('reader → webhook', () => {
 *   const ws = useWorkspace();
 *   it('delivers', async () => {
 *     const receiver = await ws.receiver();
 *     const p = ws.readerProcess(['--sink', 'webhook', '--webhook-url', receiver.url]);
 *   });
 * });
 * ```
 */
export function useWorkspace(opts: { createRoot?: boolean } = {}): Workspace {
  let tmp: Awaited<ReturnType<typeof makeTmpDir>> | undefined;
  let cleanups: (() => unknown)[] = [];
  const dir = () => {
    if (!tmp) throw new Error('the workspace exists only while a test runs (beforeEach)');
    return tmp.dir;
  };
  const ws: Workspace = {
    get dir() {
      return dir();
    },
    get root() {
      return join(dir(), 'topics');
    },
    get state() {
      return join(dir(), 'state');
    },
    path: (...parts) => join(dir(), ...parts),
    defer: (fn) => void cleanups.push(fn),
    reader(over) {
      const r = startReader(ws.root, ws.state, over);
      ws.defer(r.stop);
      return r;
    },
    cli(args, cliOpts) {
      const p = runCli(args, cliOpts);
      ws.defer(async () => {
        if (p.child.exitCode === null && p.child.signalCode === null) p.child.kill('SIGKILL');
        await p.exited;
      });
      return p;
    },
    readerProcess: (more = [], cliOpts) => ws.cli(readArgs(ws.root, ws.state, ...more), cliOpts),
    async receiver(receiverOpts) {
      const r = await startReceiver(receiverOpts);
      ws.defer(r.close);
      return r;
    },
  };
  beforeEach(async () => {
    tmp = await makeTmpDir();
    if (opts.createRoot !== false) await mkdir(ws.root);
  });
  afterEach(async () => {
    const pending = cleanups.reverse();
    cleanups = [];
    try {
      for (const fn of pending) await fn();
    } finally {
      await tmp?.cleanup();
      tmp = undefined;
    }
  });
  return ws;
}
