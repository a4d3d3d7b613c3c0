import { spawn, spawnSync } from 'node:child_process';
import { closeSync, constants, openSync } from 'node:fs';
import { Socket } from 'node:net';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { enlargePipeBuffer, STDOUT_PIPE_BYTES } from '../../src/sinks/pipe-buffer.ts';
import { CLI } from '../helpers/cli.ts';
import { auditIdOf, writeCompletedRun } from '../helpers/runs.ts';
import { makeTmpDir, waitFor } from '../helpers/tmp.ts';

describe('stdout pipe buffer', () => {
  let tmp: Awaited<ReturnType<typeof makeTmpDir>>;
  beforeEach(async () => {
    tmp = await makeTmpDir();
  });
  afterEach(() => tmp.cleanup());

  /** Both ends of a new FIFO (a container's stdout is one). */
  function fifo() {
    const path = join(tmp.dir, `fifo-${Math.random().toString(36).slice(2)}`);
    expect(spawnSync('mkfifo', [path]).status).toBe(0);
    const r = openSync(path, constants.O_RDONLY | constants.O_NONBLOCK);
    const w = openSync(path, constants.O_WRONLY);
    return { r, w };
  }

  it('grows a pipe to the size asked for, and leaves anything else alone', () => {
    const { r, w } = fifo();
    try {
      expect(enlargePipeBuffer(w, 0)).toBe(64 * 1024);
      expect(enlargePipeBuffer(w, STDOUT_PIPE_BYTES)).toBe(STDOUT_PIPE_BYTES);
      // Both ends see the one buffer.
      expect(enlargePipeBuffer(r, 0)).toBe(STDOUT_PIPE_BYTES);
    } finally {
      closeSync(r);
      closeSync(w);
    }
    const file = openSync(join(tmp.dir, 'plain'), 'w');
    try {
      expect(enlargePipeBuffer(file, STDOUT_PIPE_BYTES)).toBeUndefined();
    } finally {
      closeSync(file);
    }
  });

  it('is what `read` does to a FIFO on its stdout', async () => {
    const root = join(tmp.dir, 'topics');
    await writeCompletedRun(root, 'c', auditIdOf(0), 3);
    const { r, w } = fifo();
    const child = spawn(
      process.execPath,
      [CLI, 'read', '--http-port', '0', '--root', root, '--state-dir', join(tmp.dir, 'st')],
      { stdio: ['ignore', w, 'pipe'] },
    );
    closeSync(w);
    const out = new Socket({ fd: r, readable: true, writable: false });
    let lines = 0;
    out.on('data', (c: Buffer) => (lines += c.toString().split('\n').length - 1));
    let err = '';
    child.stderr!.setEncoding('utf8').on('data', (s: string) => (err += s));
    try {
      await waitFor(() => lines === 3, 'the three violations');
      expect(enlargePipeBuffer(r, 0)).toBe(STDOUT_PIPE_BYTES);
    } finally {
      await waitFor(() => err.includes('reader started'), 'the reader to start');
      child.kill('SIGTERM');
      await new Promise((res) => child.on('close', res));
      out.destroy();
    }
  });
});
