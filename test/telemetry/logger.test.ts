// The operational logger is built in (pino's ~30 modules were resident in every reader): its
// lines must stay what pino wrote, field for field and in the same order.
import { describe, expect, it } from 'vitest';
import { createLogger, type LogLevel } from '../../src/telemetry/index.ts';

const TIME = /"time":"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z"/;

function capture(level: LogLevel = 'trace') {
  const lines: string[] = [];
  const log = createLogger({ level, destination: { write: (s: string) => lines.push(s) } });
  // The time is checked once, then masked so that the rest compares exactly.
  const out = () =>
    lines.map((l) => {
      expect(l).toMatch(TIME);
      expect(l.endsWith('}\n')).toBe(true);
      return l.replace(TIME, '"time":"T"').slice(0, -1);
    });
  return { log, out };
}

describe('the operational logger', () => {
  it('writes level label, time, name, fields in their order, then msg, as pino did', () => {
    const { log, out } = capture();
    log.info('plain');
    log.warn(
      { file: '/d/c/r.log', line: 7, gone: undefined, n: null, list: [1, { a: 'x"y' }] },
      'bad',
    );
    log.debug({ only: true });
    expect(out()).toEqual([
      '{"level":"info","time":"T","name":"gk-export","msg":"plain"}',
      '{"level":"warn","time":"T","name":"gk-export","file":"/d/c/r.log","line":7,"n":null,"list":[1,{"a":"x\\"y"}],"msg":"bad"}',
      '{"level":"debug","time":"T","name":"gk-export","only":true}',
    ]);
  });

  it('puts a child’s bindings after the name, before the fields', () => {
    const { log, out } = capture();
    const child = log.child({ sink: 'hook' }).child({ lane: 2 });
    child.error({ run: 'r1' }, 'failed');
    expect(out()).toEqual([
      '{"level":"error","time":"T","name":"gk-export","sink":"hook","lane":2,"run":"r1","msg":"failed"}',
    ]);
  });

  it('serializes an Error as pino did: type, message and stack with their causes, own fields', () => {
    const { log, out } = capture();
    const err = Object.assign(new Error('boom', { cause: new TypeError('inner') }), {
      code: 'ERR_X',
    });
    log.error({ err }, 'write failed');
    log.fatal(err);
    const [first, second] = out().map((l) => JSON.parse(l) as Record<string, unknown>);
    const shown = {
      type: 'Error',
      message: 'boom: inner',
      stack: `${err.stack}\ncaused by: ${(err.cause as Error).stack}`,
      code: 'ERR_X',
    };
    expect(first).toEqual({
      level: 'error',
      time: 'T',
      name: 'gk-export',
      err: shown,
      msg: 'write failed',
    });
    // An Error alone is the `err` field and its message the message.
    expect(second).toEqual({
      level: 'fatal',
      time: 'T',
      name: 'gk-export',
      err: shown,
      msg: 'boom',
    });
    expect(Object.keys(first!.err as object)).toEqual(['type', 'message', 'stack', 'code']);
  });

  it('drops the levels below its own, and everything when silent', () => {
    const warn = capture('warn');
    warn.log.info('no');
    warn.log.debug('no');
    warn.log.warn('yes');
    expect(warn.out()).toEqual(['{"level":"warn","time":"T","name":"gk-export","msg":"yes"}']);
    expect(warn.log.isLevelEnabled('info')).toBe(false);
    expect(warn.log.isLevelEnabled('error')).toBe(true);
    const silent = capture('silent');
    silent.log.fatal('no');
    expect(silent.out()).toEqual([]);
  });

  it('writes an object that refers to itself without throwing', () => {
    const { log, out } = capture();
    const loop: Record<string, unknown> = { a: 1 };
    loop.self = loop;
    log.info({ loop }, 'circular');
    expect(out()).toEqual([
      '{"level":"info","time":"T","name":"gk-export","loop":{"a":1,"self":"[Circular]"},"msg":"circular"}',
    ]);
  });
});
