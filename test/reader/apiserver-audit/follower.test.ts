import { appendFile, readdir, readlink, rename, stat, writeFile } from 'node:fs/promises';
import { beforeEach, describe, expect, it } from 'vitest';
import {
  followRotatingFile,
  type FollowEvent,
  type FollowerOptions,
} from '../../../src/reader/apiserver-audit/follower.ts';
import { capturingTelemetry } from '../../helpers/reader.ts';
import { waitFor } from '../../helpers/tmp.ts';
import { useWorkspace } from '../../helpers/workspace.ts';

/** True when this process holds `path` open (Linux /proc). */
async function isOpenHere(path: string): Promise<boolean> {
  for (const fd of await readdir('/proc/self/fd')) {
    if ((await readlink(`/proc/self/fd/${fd}`).catch(() => '')) === path) return true;
  }
  return false;
}

describe('rotating-file follower (no decoding)', () => {
  const ws = useWorkspace({ createRoot: false });
  let log: string;
  beforeEach(() => {
    log = ws.path('app.log');
  });

  /** Follows `log`, recording each event's lines as text and each file end as `<end>`. */
  function follow(over: Partial<FollowerOptions> = {}) {
    const ac = new AbortController();
    const events: FollowEvent[] = [];
    const done = (async () => {
      const opts: FollowerOptions = {
        path: log,
        start: 'beginning',
        maxLineBytes: 1 << 16,
        batchMaxRecords: 2,
        pollIntervalMs: 20,
        resume: () => undefined,
        unfinished: () => [],
        log: capturingTelemetry().log,
        ...over,
      };
      for await (const ev of followRotatingFile(opts, ac.signal)) events.push(ev);
    })();
    const stop = async () => {
      ac.abort();
      await done;
    };
    ws.defer(stop);
    const seen = () =>
      events.flatMap((e) =>
        e.kind === 'lines'
          ? e.lines.map((l) => `${l.bytes.toString()}${l.truncated ? ' (truncated)' : ''}`)
          : ['<end>'],
      );
    return { events, stop, seen };
  }

  it('hands out whole lines in batches, follows appends, and ends a renamed file before the new one', async () => {
    await writeFile(log, 'a\nb\nc\n');
    const f = follow();
    await waitFor(() => f.seen().length === 3, 'the first three lines');
    expect(f.events.map((e) => e.kind === 'lines' && e.lines.length)).toEqual([2, 1]);
    await appendFile(log, 'd\ne');
    await waitFor(() => f.seen().includes('d'), 'the appended whole line');
    const oldIno = (await stat(log, { bigint: true })).ino.toString();
    await rename(log, ws.path('app.log.1'));
    await writeFile(log, 'new\n');
    await waitFor(() => f.seen().includes('new'), "the new file's line");
    expect(f.seen()).toEqual(['a', 'b', 'c', 'd', 'e (truncated)', '<end>', 'new']);
    const end = f.events.find((e) => e.kind === 'end')!;
    expect(end.file.ino).toBe(oldIno);
    expect(end.position).toEqual({ offset: 9, line: 5 });
    const last = f.events.at(-1)!;
    expect(last.file.ino).not.toBe(oldIno);
    expect(last.position).toEqual({ offset: 4, line: 1 });
  });

  it('starts where resume says, or at the end of a file never seen when asked', async () => {
    await writeFile(log, 'a\nb\nc\n');
    const resumed = follow({ resume: () => ({ offset: 2, line: 1 }) });
    await waitFor(() => resumed.seen().length === 2, 'the lines after the resumed position');
    expect(resumed.seen()).toEqual(['b', 'c']);
    expect(resumed.events.at(-1)!.position).toEqual({ offset: 6, line: 3 });
    await resumed.stop();
    const atEnd = follow({ start: 'end' });
    await waitFor(() => isOpenHere(log), 'the follower holding the file');
    await appendFile(log, 'd\n');
    await waitFor(() => atEnd.seen().length === 1, 'the line appended after the start');
    expect(atEnd.seen()).toEqual(['d']);
  });

  it('finishes a file rotated away while nobody followed, then the live file', async () => {
    await writeFile(log, 'x\ny\nz\n');
    const first = follow();
    await waitFor(() => first.seen().length === 3, 'the first file');
    const { file } = first.events[0]!;
    await first.stop();
    await appendFile(log, 'w\n');
    await rename(log, ws.path('app.log.1'));
    await writeFile(log, 'live\n');
    const second = follow({
      unfinished: () => [{ ...file, offset: 6, line: 3 }],
      resume: () => undefined,
    });
    await waitFor(() => second.seen().includes('live'), 'the live file');
    expect(second.seen()).toEqual(['w', '<end>', 'live']);
  });

  it('closes the file and stops when the signal aborts', async () => {
    await writeFile(log, 'a\n');
    const f = follow();
    await waitFor(() => f.seen().length === 1, 'the line');
    expect(await isOpenHere(log)).toBe(true);
    await f.stop();
    expect(await isOpenHere(log)).toBe(false);
  });
});
