import { appendFile, readdir, stat, truncate } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { encodeExportMsg } from '../../../src/protocol/encode.ts';
import type { ExportMsg } from '../../../src/protocol/record.ts';
import { withChangesOnly } from '../../../src/sinks/changes-only/changes-only.ts';
import type { Delivery, Sink } from '../../../src/sinks/sink.ts';
import { capturingTelemetry, metricValue } from '../../helpers/reader.ts';
import { auditIdOf, violation } from '../../helpers/runs.ts';
import { makeTmpDir } from '../../helpers/tmp.ts';

const CH = 'audit-channel';

/** A run as the reader hands it over: the started marker, violations `nums`, the completion. */
function runOf(index: number, nums: readonly number[]): Delivery[] {
  const id = auditIdOf(index);
  const run = id.replaceAll(':', '_');
  const msgs: ExportMsg[] = [
    { id, message: 'audit is started' },
    ...nums.map((i) => violation(id, i)),
    { id, message: 'audit is completed' },
  ];
  return msgs.map((msg, k) => ({
    key: `${CH}/${run}/${k + 1}`,
    source: 'audit',
    channel: CH,
    run,
    line: k + 1,
    raw: encodeExportMsg(msg),
    msg,
    ...(k === 0 ? { marker: 'started' as const } : {}),
    ...(k === msgs.length - 1 ? { marker: 'completed' as const } : {}),
  }));
}

const range = (from: number, to: number) =>
  Array.from({ length: to - from + 1 }, (_, k) => from + k);

/** A sink that keeps what it acknowledges; `failOn` makes a write with that marker fail. */
function inner(opts: { failOnCompletion?: boolean } = {}) {
  const got: Delivery[] = [];
  const sink: Sink = {
    name: 'stdout',
    async write(batch) {
      if (opts.failOnCompletion && batch.some((d) => d.marker === 'completed')) {
        throw new Error('receiver gone');
      }
      got.push(...batch);
    },
    async close() {},
  };
  return { sink, got };
}

const summary = (got: Delivery[]) => ({
  audited: got
    .filter((d) => !d.marker && d.msg.eventType === 'violation_audited')
    .map((d) => Number(d.msg.resourceName!.slice(4)))
    .sort((a, b) => a - b),
  resolved: got
    .filter((d) => d.msg.eventType === 'violation_resolved')
    .map((d) => Number(d.msg.resourceName!.slice(4)))
    .sort((a, b) => a - b),
});

/** Delivers `batch` in batches of `size`, as the reader does. */
async function deliver(sink: Sink, records: Delivery[], size = 100) {
  for (let i = 0; i < records.length; i += size) await sink.write(records.slice(i, i + size));
}

describe('changes-only stage', () => {
  let tmp: Awaited<ReturnType<typeof makeTmpDir>>;
  beforeEach(async () => {
    tmp = await makeTmpDir();
  });
  afterEach(() => tmp.cleanup());

  const wrap = (s: Sink, telemetry = capturingTelemetry()) =>
    withChangesOnly(s, { stateDir: tmp.dir, scope: 's', telemetry, chunkRecords: 64 });

  it('counts unchanged, new and resolved records', async () => {
    const telemetry = capturingTelemetry();
    const out = inner();
    const sink = wrap(out.sink, telemetry);
    await deliver(sink, runOf(1, range(0, 299)));
    await deliver(sink, runOf(2, range(50, 349)));
    const count = (change: string) =>
      metricValue(telemetry, 'gk_export_changes_only_records_total', { change });
    expect(await count('new')).toBe(300 + 50);
    expect(await count('unchanged')).toBe(250);
    expect(await count('resolved')).toBe(50);
    await sink.close();
  });

  it('after a crash in the middle of a run, resumes its record of what the run met', async () => {
    const first = wrap(inner().sink);
    await deliver(first, runOf(1, range(0, 499)));
    // Run 2 is delivered up to its line 301; then the process dies (no close).
    const run2 = runOf(2, range(100, 599));
    await deliver(first, run2.slice(0, 301));
    const out = inner();
    const second = wrap(out.sink);
    await deliver(second, run2.slice(301));
    // Only what is really gone is resolved (0..99); nothing met before the crash is.
    expect(summary(out.got).resolved).toEqual(range(0, 99));
    expect(summary(out.got).audited).toEqual(range(500, 599));
  });

  it('repeats a completion whose acknowledgement was lost, inventing nothing', async () => {
    const first = wrap(inner().sink);
    await deliver(first, runOf(1, range(0, 199)));
    const run2 = runOf(2, range(50, 249));
    const failing = wrap(inner({ failOnCompletion: true }).sink);
    // The restart after run 1: run 2's batches before its last are acknowledged …
    await deliver(failing, run2.slice(0, 200));
    // … its last batch (with the completion marker) is not.
    await expect(failing.write(run2.slice(200))).rejects.toThrow('receiver gone');
    const out = inner();
    await wrap(out.sink).write(run2.slice(200));
    expect(summary(out.got)).toEqual({ audited: [249], resolved: range(0, 49) });
  });

  it('drops the repeat of a completion that was acknowledged but not checkpointed', async () => {
    const first = wrap(inner().sink);
    await deliver(first, runOf(1, range(0, 199)));
    const run2 = runOf(2, range(50, 249));
    await deliver(first, run2);
    // The checkpoint of run 2's last batch was lost: the reader delivers it again.
    const out = inner();
    const again = wrap(out.sink);
    await again.write(run2.slice(200));
    expect(out.got).toEqual([]);
    // And run 3 is compared with run 2, not run 1.
    await deliver(again, runOf(3, range(50, 249)));
    expect(summary(out.got)).toEqual({ audited: [], resolved: [] });
  });

  it('ignores a torn tail of the index left by a crash in the middle of an append', async () => {
    const first = wrap(inner().sink);
    await deliver(first, runOf(1, range(0, 99)));
    const run2 = runOf(2, range(0, 99));
    await deliver(first, run2.slice(0, 50));
    const dir = join(tmp.dir, 'changes-only', 's', CH);
    const idx = (await readdir(dir)).find((f) => f.includes(run2[0]!.run) && f.endsWith('.idx'))!;
    const before = (await stat(join(dir, idx))).size;
    await appendFile(join(dir, idx), Buffer.alloc(13, 0xff));
    const out = inner();
    await deliver(wrap(out.sink), run2.slice(50));
    expect(summary(out.got)).toEqual({ audited: [], resolved: [] });
    expect(before % 32).toBe(0);
  });

  it('rebuilds an index tail lost in a crash from the recorded lines', async () => {
    const first = wrap(inner().sink);
    await deliver(first, runOf(1, range(0, 99)));
    const run2 = runOf(2, range(0, 99));
    await deliver(first, run2.slice(0, 50));
    const dir = join(tmp.dir, 'changes-only', 's', CH);
    const idx = (await readdir(dir)).find((f) => f.includes(run2[0]!.run) && f.endsWith('.idx'))!;
    // The index is synced once per run: after a power loss it may hold only some entries.
    await truncate(join(dir, idx), 10 * 32 + 7);
    const out = inner();
    await deliver(wrap(out.sink), run2.slice(50));
    expect(summary(out.got)).toEqual({ audited: [], resolved: [] });
  });

  it('passes admission records unchanged and compares a run it did not see start with no resolved records', async () => {
    const out = inner();
    const sink = wrap(out.sink);
    const admission: Delivery = {
      ...runOf(9, [1])[1]!,
      source: 'admission',
      run: 'admission-x',
      key: 'c/admission-x/1',
    };
    await sink.write([admission]);
    await sink.write([admission]);
    expect(out.got).toHaveLength(2);
    await deliver(sink, runOf(1, range(0, 99)));
    // Run 2 from its line 51 only (e.g. the option was switched on in the middle of it).
    await deliver(sink, runOf(2, range(50, 149)).slice(51));
    const after = out.got.slice(2 + 102);
    expect(summary(after)).toEqual({ audited: range(100, 149), resolved: [] });
    // Run 1 is still the reference.
    await deliver(sink, runOf(3, range(0, 99)));
    expect(summary(out.got.slice(2 + 102 + after.length))).toEqual({ audited: [], resolved: [] });
  });
});
