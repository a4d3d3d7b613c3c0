import {
  appendFile,
  copyFile,
  mkdir,
  readFile,
  rename,
  rm,
  truncate,
  writeFile,
} from 'node:fs/promises';
import { getEventListeners } from 'node:events';
import { join } from 'node:path';
import { beforeEach, describe, expect, it } from 'vitest';
import { createApiserverAuditSource } from '../../../src/reader/apiserver-audit/source.ts';
import { runReader, type LaneSpec } from '../../../src/reader/index.ts';
import { resolveReaderConfig } from '../../../src/reader/options.ts';
import type { Source } from '../../../src/pipeline/source.ts';
import { allowedEvent, auditEvent } from '../../helpers/audit-events.ts';
import { capturingTelemetry, collectingSink, metricValue } from '../../helpers/reader.ts';
import { brokenSink, takingSink } from '../../helpers/lanes.ts';
import { waitFor } from '../../helpers/tmp.ts';
import { useWorkspace } from '../../helpers/workspace.ts';

const line = (ev: Record<string, unknown>) => JSON.stringify(ev) + '\n';

describe('API-server audit log source', () => {
  const ws = useWorkspace({ createRoot: false });
  let log: string;
  beforeEach(() => {
    log = ws.path('audit.log');
  });

  function start(startAt: 'beginning' | 'end' = 'beginning') {
    const c = collectingSink();
    const telemetry = capturingTelemetry();
    const config = resolveReaderConfig({
      root: ws.root,
      stateDir: ws.state,
      pollInterval: 50,
    });
    const ac = new AbortController();
    const done = runReader(
      config,
      {
        sink: c.sink,
        telemetry,
        diskExport: false,
        extraSources: ({ store, deadLetter }) => [
          createApiserverAuditSource({
            path: log,
            start: startAt,
            webhookName: 'validation.gatekeeper.sh',
            maxRecordBytes: 1 << 20,
            batchMaxRecords: 50,
            pollIntervalMs: 50,
            store,
            telemetry,
            deadLetter,
          }),
        ],
      },
      ac.signal,
    );
    const stop = async () => {
      ac.abort();
      await done;
    };
    ws.defer(stop);
    return { c, telemetry, stop, names: () => c.got.map((d) => d.msg.resourceName) };
  }

  it('delivers denials from the start, skips the rest, and follows appends', async () => {
    await writeFile(log, line(auditEvent(1)) + line(allowedEvent(2)) + line(auditEvent(3)));
    const r = start();
    await waitFor(() => r.c.got.length === 2, 'two denials');
    await appendFile(log, line(auditEvent(4)));
    await waitFor(() => r.c.got.length === 3, 'the appended denial');
    expect(r.names()).toEqual(['app1-project', 'app3-project', 'app4-project']);
    expect(r.c.got[0]!.key).toMatch(/^apiserver-audit\/[0-9a-f]{16}\/1#0$/);
  });

  it('starts at the end of a file never seen when asked', async () => {
    await writeFile(log, line(auditEvent(1)));
    const r = start('end');
    await new Promise((res) => setTimeout(res, 200));
    await appendFile(log, line(auditEvent(2)));
    await waitFor(() => r.c.got.length === 1, 'the new denial');
    expect(r.names()).toEqual(['app2-project']);
  });

  it('follows rotation by rename while lines are appended, without loss or repeat', async () => {
    await writeFile(log, line(auditEvent(0)));
    const r = start();
    let n = 1;
    for (let rot = 0; rot < 3; rot++) {
      for (let k = 0; k < 40; k++) await appendFile(log, line(auditEvent(n++)));
      await rename(log, ws.path(`audit-${rot}.log`));
      // Like the API server (or logrotate): rename, then a new file at the same path.
      await writeFile(log, line(auditEvent(n++)));
      // Rotations are minutes apart in a cluster: the next one comes after this file is read.
      const expected = n;
      await waitFor(() => r.c.got.length === expected, `${expected} denials after rotation ${rot}`);
    }
    await waitFor(() => r.c.got.length === n, `${n} denials`, 20_000);
    expect(r.names()).toEqual(Array.from({ length: n }, (_, i) => `app${i}-project`));
  });

  it('starts over on copy-truncate', async () => {
    await writeFile(log, line(auditEvent(0)) + line(auditEvent(1)));
    const r = start();
    await waitFor(() => r.c.got.length === 2, 'first lines');
    await copyFile(log, ws.path('audit.log.1'));
    await truncate(log, 0);
    await appendFile(log, line(auditEvent(2)));
    await waitFor(() => r.c.got.length === 3, 'the line after truncation');
    expect(r.names()).toEqual(['app0-project', 'app1-project', 'app2-project']);
  });

  it('resumes after a restart in the middle of a rotated file, without loss or repeat', async () => {
    await writeFile(log, Array.from({ length: 30 }, (_, i) => line(auditEvent(i))).join(''));
    const first = start();
    await waitFor(() => first.c.got.length === 30, 'first 30');
    await first.stop();
    // While stopped: more lines, then a rotation and a new file.
    await appendFile(log, Array.from({ length: 10 }, (_, i) => line(auditEvent(30 + i))).join(''));
    await rename(log, ws.path('audit-old.log'));
    await writeFile(log, line(auditEvent(40)));
    const second = start();
    await waitFor(
      () => second.c.got.length === 11,
      'the rest of the rotated file and the new file',
    );
    expect(second.names()).toEqual(Array.from({ length: 11 }, (_, i) => `app${30 + i}-project`));
  });

  // Bug: a bad line that could not be set aside (the dead-letter file not writable) stopped the
  // reader with exit 1; the disk source waits there, holding nothing past the bad line.
  it('holds the log at a bad line it cannot set aside, then goes on once it can', async () => {
    await mkdir(join(ws.state, 'dead-letter.jsonl'), { recursive: true });
    await writeFile(log, line(auditEvent(1)) + '{"broken\n' + line(auditEvent(3)));
    const r = start();
    await waitFor(() => r.c.got.length === 1, 'the denial before the bad line');
    await waitFor(
      async () =>
        (await metricValue(r.telemetry, 'gk_export_dead_letter_write_failures_total')) >= 3,
      'retries of the dead-letter write',
    );
    expect(r.names()).toEqual(['app1-project']);
    await rm(join(ws.state, 'dead-letter.jsonl'), { recursive: true });
    await waitFor(() => r.c.got.length === 2, 'the denial after the bad line');
    expect(r.names()).toEqual(['app1-project', 'app3-project']);
    expect(await readFile(join(ws.state, 'dead-letter.jsonl'), 'utf8')).toMatch(/"broken/);
  });

  it('stops cleanly while it waits on a bad line it cannot set aside', async () => {
    await mkdir(join(ws.state, 'dead-letter.jsonl'), { recursive: true });
    await writeFile(log, line(auditEvent(1)) + '{"broken\n' + line(auditEvent(3)));
    const r = start();
    await waitFor(() => r.c.got.length === 1, 'the denial before the bad line');
    await r.stop();
    expect(r.names()).toEqual(['app1-project']);
  });

  // Bug: every idle wait added an abort listener to the reader's signal and never removed it
  // (20 listeners after 20 idle polls, one more every poll for as long as the reader ran).
  it('leaves at most one abort listener on the signal however many times it idles', async () => {
    await writeFile(log, line(auditEvent(1)));
    let signal: AbortSignal | undefined;
    let added = 0;
    const telemetry = capturingTelemetry();
    const ac = new AbortController();
    const done = runReader(
      resolveReaderConfig({ root: ws.root, stateDir: ws.state }),
      {
        sink: collectingSink().sink,
        telemetry,
        diskExport: false,
        extraSources: ({ store, deadLetter }) => {
          const source = createApiserverAuditSource({
            path: log,
            start: 'beginning',
            webhookName: 'validation.gatekeeper.sh',
            maxRecordBytes: 1 << 20,
            batchMaxRecords: 50,
            pollIntervalMs: 1,
            store,
            telemetry,
            deadLetter,
          });
          // The source's signal, its abort listeners counted as they are added.
          const counted: Source = {
            name: source.name,
            run(deliver, s) {
              signal = s;
              const add = s.addEventListener.bind(s);
              s.addEventListener = ((type: string, ...rest: [never, never]) => {
                if (type === 'abort') added += 1;
                return add(type, ...rest);
              }) as typeof s.addEventListener;
              return source.run(deliver, s);
            },
          };
          return [counted];
        },
      },
      ac.signal,
    );
    ws.defer(async () => {
      ac.abort();
      await done;
    });
    await waitFor(() => added >= 20, '20 idle waits');
    expect(getEventListeners(signal!, 'abort').length).toBeLessThanOrEqual(1);
  });

  /** A reader of the audit log alone, with a lane per sink. */
  function readWithLanes(lanes: LaneSpec[]) {
    const telemetry = capturingTelemetry();
    const ac = new AbortController();
    const done = runReader(
      resolveReaderConfig({ root: ws.root, stateDir: ws.state, pollInterval: 50 }),
      {
        lanes,
        telemetry,
        diskExport: false,
        extraSources: ({ store, deadLetter, telemetry: laneTelemetry, tally }) => [
          createApiserverAuditSource({
            path: log,
            start: 'beginning',
            webhookName: 'validation.gatekeeper.sh',
            maxRecordBytes: 1 << 20,
            batchMaxRecords: 50,
            pollIntervalMs: 50,
            store,
            telemetry: laneTelemetry,
            deadLetter,
            tally,
          }),
        ],
      },
      ac.signal,
    );
    ws.defer(async () => {
      ac.abort();
      await done;
    });
    return telemetry;
  }

  /** Its one dead-letter entry (and that there is only one). */
  async function oneDeadLetter() {
    const deadLetters = (await readFile(join(ws.state, 'dead-letter.jsonl'), 'utf8'))
      .split('\n')
      .filter(Boolean);
    expect(deadLetters).toHaveLength(1);
  }

  it('with several sinks, reports a bad line once and counts each line read once', async () => {
    await writeFile(
      log,
      line(auditEvent(1)) + '{"broken\n' + line(allowedEvent(2)) + line(auditEvent(3)),
    );
    const sinks = ['a', 'b'].map((name) => ({ name, ...takingSink(name) }));
    const telemetry = readWithLanes(sinks.map((s) => ({ name: s.name, open: s.open })));
    for (const s of sinks) await waitFor(() => s.got.length === 2, `both denials to ${s.name}`);
    await waitFor(
      async () => (await metricValue(telemetry, 'gk_export_records_read_total')) === 4,
      'the four lines counted',
    );
    await new Promise((r) => setTimeout(r, 200));
    expect(await metricValue(telemetry, 'gk_export_records_read_total')).toBe(4);
    expect(await metricValue(telemetry, 'gk_export_records_invalid_total')).toBe(1);
    expect(await metricValue(telemetry, 'gk_export_apiserver_audit_events_skipped_total')).toBe(1);
    await oneDeadLetter();
  });

  it('after the first sink stopped for good, the other reports bad lines and counts lines', async () => {
    await writeFile(log, line(auditEvent(1)));
    const up = takingSink('up');
    const telemetry = readWithLanes([brokenSink('broken'), { name: 'up', open: up.open }]);
    await waitFor(() => up.got.length === 1, 'the first denial to the sink that is up');
    await waitFor(
      () => telemetry.logs.some((l) => l.sink === 'broken' && l.level === 'error'),
      'the first sink stopped for good',
    );
    await appendFile(log, '{"broken\n' + line(allowedEvent(2)) + line(auditEvent(3)));
    await waitFor(() => up.got.length === 2, 'the later denial');
    await waitFor(
      async () => (await metricValue(telemetry, 'gk_export_records_read_total')) === 4,
      'the four lines counted',
    );
    expect(await metricValue(telemetry, 'gk_export_records_invalid_total')).toBe(1);
    expect(await metricValue(telemetry, 'gk_export_apiserver_audit_events_skipped_total')).toBe(1);
    await oneDeadLetter();
  });
});
