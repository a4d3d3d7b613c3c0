import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import type { Delivery } from '../../src/sinks/sink.ts';
import { createStdoutSink, rawFormat } from '../../src/sinks/stdout.ts';

/** Deliveries for the lines of `text` as they lie in one read buffer (markers flagged). */
function linesOf(text: string): { buf: Buffer; batch: Delivery[] } {
  const buf = Buffer.from(text);
  const batch: Delivery[] = [];
  let at = 0;
  let line = 0;
  while (at < buf.length) {
    const nl = buf.indexOf(0x0a, at);
    const end = buf[nl - 1] === 0x0d ? nl - 1 : nl;
    const raw = buf.toString('utf8', at, end);
    line += 1;
    const marker = raw.includes('"message":"audit is') ? ('started' as const) : undefined;
    batch.push({
      key: `c/r/${line}`,
      source: 'audit',
      channel: 'c',
      run: 'r',
      line,
      raw,
      msg: JSON.parse(raw),
      ...(marker ? { marker } : {}),
      buf,
      at,
      byteLength: end - at,
    });
    at = nl + 1;
  }
  return { buf, batch };
}

describe('stdout sink', () => {
  it('prints each record line byte for byte, markers left out, a CRLF line without its CR', () => {
    const text =
      '{"id":"x","message":"audit is started"}\n{"a":"é"}\n{"b":2}\r\n{"c":3}\n{"id":"x","message":"audit is completed"}\n';
    const { batch } = linesOf(text);
    const out = Buffer.concat(rawFormat({ includeMarkers: false })(batch) as Buffer[]);
    expect(out.toString()).toBe('{"a":"é"}\n{"b":2}\n{"c":3}\n');
    const all = Buffer.concat(rawFormat({ includeMarkers: true })(batch) as Buffer[]);
    expect(all.toString()).toBe(text.replace('\r\n', '\n'));
  });

  it('writes adjacent lines as one slice of the read buffer, not a copy', () => {
    const { buf, batch } = linesOf('{"a":1}\n{"b":2}\n{"c":3}\n');
    const parts = rawFormat({ includeMarkers: false })(batch) as Buffer[];
    expect(parts).toHaveLength(1);
    expect(parts[0]!.buffer).toBe(buf.buffer);
  });

  it('acknowledges a batch only once the stream has handed its bytes on', async () => {
    // Regression: the ack came as soon as write() returned true (room in the stream's
    // buffer); with a full pipe the bytes were still in the process when the checkpoint moved
    // past them, and a SIGKILL then lost them.
    const release: (() => void)[] = [];
    const written: Buffer[] = [];
    const stream = new Writable({
      highWaterMark: 1 << 20,
      write(chunk: Buffer, _enc, cb) {
        release.push(() => {
          written.push(chunk);
          cb();
        });
      },
    });
    const sink = createStdoutSink({ stream, format: rawFormat({ includeMarkers: false }) });
    let acked = false;
    const write = sink.write(linesOf('{"a":1}\n{"b":2}\n').batch).then(() => (acked = true));
    await new Promise((r) => setTimeout(r, 20));
    expect(acked).toBe(false);
    while (release.length > 0) release.shift()!();
    await write;
    expect(acked).toBe(true);
    expect(Buffer.concat(written).toString()).toBe('{"a":1}\n{"b":2}\n');
  });
});
