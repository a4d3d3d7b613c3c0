import { resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { formatByteSize, parseByteSize } from '../../src/config/byte-size.ts';
import { DEFAULTS, defaultStateDir } from '../../src/config/defaults.ts';
import { formatDuration, parseDuration } from '../../src/config/duration.ts';
import {
  integer,
  list,
  oneOf,
  parseBoolean,
  parseKeyValue,
  parsePath,
  parseSetting,
} from '../../src/config/parsers.ts';
import { buildProgram } from '../../src/program.ts';
import { resolveReaderConfig } from '../../src/reader/options.ts';
import { resolveWebhookConfig } from '../../src/sinks/webhook/options.ts';

const refused = (f: () => unknown) =>
  expect(f).toThrow(expect.objectContaining({ code: 'ERR_INVALID_SETTING' }));

describe('setting parsers', () => {
  it('integer: whole numbers within the bounds only', () => {
    expect(integer(0, 5)('0')).toBe(0);
    expect(integer(0, 5)(' 5 ')).toBe(5);
    for (const bad of ['6', '-1', '1.5', '', 'x', '1e3']) refused(() => integer(0, 5)(bad));
    expect(integer(0)('123456789')).toBe(123456789);
    refused(() => integer(0)('99999999999999999999'));
  });

  it('oneOf: exactly one of the allowed words', () => {
    expect(oneOf(['a', 'b'] as const)('b')).toBe('b');
    refused(() => oneOf(['a', 'b'] as const)('B'));
  });

  it('list: comma-separated, trimmed, each item parsed, empties dropped', () => {
    expect(list(oneOf(['a', 'b'] as const))(' a, b,,a ')).toEqual(['a', 'b', 'a']);
    expect(list(String)('')).toEqual([]);
    refused(() => list(oneOf(['a'] as const))('a,c'));
    refused(() => list(String, { nonEmpty: true })(' , '));
  });

  it('parseBoolean: true/false/1/0/yes/no in any case, nothing else', () => {
    expect(['true', 'YES', ' 1 '].map(parseBoolean)).toEqual([true, true, true]);
    expect(['False', 'no', '0'].map(parseBoolean)).toEqual([false, false, false]);
    for (const bad of ['on', 'off', '', 'y']) refused(() => parseBoolean(bad));
  });

  it('sizes and durations read their units, and print defaults the way help shows them', () => {
    expect(parseByteSize('2MiB')).toBe(2 * 1024 * 1024);
    expect(parseByteSize('1.5 kb')).toBe(1500);
    for (const bad of ['0', '-1', '2 parsecs', '']) refused(() => parseByteSize(bad));
    expect(parseDuration('1m30s')).toBe(90_000);
    expect(parseDuration('250')).toBe(250);
    for (const bad of ['soon', '5 s', '1d', '']) refused(() => parseDuration(bad));
    expect([2 * 1024 * 1024, 4096, 1500].map(formatByteSize)).toEqual(['2MiB', '4KiB', '1500B']);
    expect([600_000, 1000, 1500, 3_600_000].map(formatDuration)).toEqual([
      '10m',
      '1s',
      '1500ms',
      '1h',
    ]);
    for (const ms of [600_000, 1000, 1500]) expect(parseDuration(formatDuration(ms))).toBe(ms);
  });

  it('paths become absolute; NAME=VALUE pairs split at the first =', () => {
    expect(parsePath('topics')).toBe(resolve('topics'));
    refused(() => parsePath(' '));
    expect(parseKeyValue('X-Team = a=b')).toEqual(['X-Team', ' a=b']);
    refused(() => parseKeyValue('=x'));
  });

  it('parseSetting names the setting, the value and what is allowed in one line', () => {
    expect(parseSetting('sinks[1].batchMaxRecords', '7', integer(1, 10))).toBe(7);
    let err: unknown;
    try {
      parseSetting('sinks[1].batchMaxRecords', '0', integer(1, 10));
    } catch (e) {
      err = e;
    }
    expect(err).toMatchObject({ code: 'ERR_INVALID_SETTING' });
    expect((err as Error).message).toBe(
      'sinks[1].batchMaxRecords "0" is not allowed: use a whole number from 1 to 10',
    );
  });
});

describe('the defaults table', () => {
  it('is what a command line without flags resolves to, and what help and the config builders use', async () => {
    const program = buildProgram();
    const read = program.commands.find((c) => c.name() === 'read')!;
    read.action(() => undefined);
    await program.parseAsync(['read'], { from: 'user' });
    const opts = read.opts();
    const fromFlags = resolveReaderConfig(opts);
    const fromCode = resolveReaderConfig({ root: opts.root });
    expect(fromFlags).toEqual(fromCode);
    expect(fromCode).toMatchObject({
      maxOpenFiles: DEFAULTS.reader.maxOpenFiles,
      batchMaxRecords: DEFAULTS.reader.batchMaxRecords,
      batchMaxBytes: DEFAULTS.reader.batchMaxBytes,
      abandonAfterMs: DEFAULTS.reader.abandonAfterMs,
      maxRecordBytes: DEFAULTS.volume.maxRecordBytes,
      stateDir: defaultStateDir(fromCode.root),
    });
    const url = 'https://r.example/';
    const webhookFlags = resolveWebhookConfig({ ...opts, webhookUrl: url });
    const webhookCode = resolveWebhookConfig({ webhookUrl: url });
    expect(webhookFlags).toEqual(webhookCode);
    expect(webhookCode).toMatchObject({
      batchMaxRecords: DEFAULTS.webhook.batchMaxRecords,
      flushIntervalMs: DEFAULTS.webhook.flushIntervalMs,
    });
  });
});
