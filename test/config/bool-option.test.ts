// Bug: --webhook-insecure-skip-verify was a bare commander switch, so any value of
// GK_EXPORT_WEBHOOK_INSECURE_SKIP_VERIFY, `false` included, turned certificate verification
// off; other flags took `on`/`off` besides the documented words. Every boolean setting of
// every command now goes through one strict parser: true/false/1/0/yes/no in any case.
import { CommanderError, type Command } from 'commander';
import { afterEach, describe, expect, it } from 'vitest';
import { parseBool } from '../../src/config/commander.ts';
import { buildProgram } from '../../src/program.ts';

interface Setting {
  command: string;
  flag: string;
  attr: string;
  env?: string;
  dflt?: boolean;
}

/** Every boolean option of every subcommand, as the program declares them. */
function booleanSettings(): Setting[] {
  const out: Setting[] = [];
  for (const sub of buildProgram().commands) {
    for (const o of sub.options) {
      // `--no-reader` (demo) is a negation switch with no value or variable: nothing to parse.
      if (o.required || o.negate) continue;
      out.push({
        command: sub.name(),
        flag: o.long!,
        attr: o.attributeName(),
        env: o.envVar,
        dflt: o.defaultValue as boolean | undefined,
      });
    }
  }
  return out;
}

const saved = { ...process.env };
afterEach(() => {
  for (const k of Object.keys(process.env)) if (!(k in saved)) delete process.env[k];
});

/** Parses `gk-export <command> <args>` in-process (the action replaced) and returns its options. */
async function parse(command: string, args: string[], env: Record<string, string> = {}) {
  const program = buildProgram();
  const sub = program.commands.find((c) => c.name() === command) as Command;
  sub.action(() => undefined);
  sub.configureOutput({ writeErr: () => undefined, writeOut: () => undefined });
  Object.assign(process.env, env);
  try {
    await program.parseAsync([command, ...args], { from: 'user' });
    return sub.opts();
  } finally {
    for (const k of Object.keys(env)) delete process.env[k];
  }
}

async function refusal(command: string, args: string[], env: Record<string, string> = {}) {
  const err = await parse(command, args, env).then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(CommanderError);
  expect((err as CommanderError).code).toBe('commander.invalidArgument');
  return (err as CommanderError).message;
}

const TRUE = ['true', 'TRUE', '1', 'yes', 'Yes'];
const FALSE = ['false', 'False', '0', 'no', 'NO'];
const BAD = ['bogus', 'on', 'off', 'y', ''];

describe('boolean settings', () => {
  const settings = booleanSettings();

  it('are exactly the known ones, each with its variable and default', () => {
    expect(settings.map((s) => [s.command, s.flag, s.env, s.dflt])).toEqual([
      ['read', '--delete-after-read', 'DELETE_AFTER_READ', true],
      ['read', '--poll', 'GK_EXPORT_POLL', false],
      ['read', '--follow-open', 'GK_EXPORT_FOLLOW_OPEN', false],
      ['read', '--include-markers', 'GK_EXPORT_INCLUDE_MARKERS', false],
      ['read', '--webhook-gzip', 'GK_EXPORT_WEBHOOK_GZIP', false],
      ['read', '--webhook-insecure-skip-verify', 'GK_EXPORT_WEBHOOK_INSECURE_SKIP_VERIFY', false],
      ['read', '--changes-only', 'GK_EXPORT_CHANGES_ONLY', false],
      ['read', '--check-config', undefined, undefined],
      ['inspect', '--json', undefined, undefined],
      ['write', '--skip-invalid', undefined, undefined],
      ['write', '--admission', undefined, undefined],
    ]);
  });

  it.each(settings.map((s) => [`${s.command} ${s.flag}`, s] as const))(
    '%s: true/false/1/0/yes/no in any case, anything else refused naming the setting',
    async (_name, s) => {
      expect((await parse(s.command, []))[s.attr]).toBe(s.dflt);
      expect((await parse(s.command, [s.flag]))[s.attr]).toBe(true);
      for (const v of TRUE) expect((await parse(s.command, [`${s.flag}=${v}`]))[s.attr]).toBe(true);
      for (const v of FALSE) {
        expect((await parse(s.command, [`${s.flag}=${v}`]))[s.attr]).toBe(false);
      }
      for (const v of BAD) expect(await refusal(s.command, [`${s.flag}=${v}`])).toContain(s.flag);
      if (s.env === undefined) return;
      for (const v of TRUE) expect((await parse(s.command, [], { [s.env]: v }))[s.attr]).toBe(true);
      for (const v of FALSE) {
        expect((await parse(s.command, [], { [s.env]: v }))[s.attr]).toBe(false);
      }
      for (const v of BAD) expect(await refusal(s.command, [], { [s.env]: v })).toContain(s.env);
      // A flag wins over its variable, both ways.
      expect((await parse(s.command, [`${s.flag}=false`], { [s.env]: 'true' }))[s.attr]).toBe(
        false,
      );
      expect((await parse(s.command, [s.flag], { [s.env]: 'false' }))[s.attr]).toBe(true);
    },
  );

  it("parseBool trims, and refuses with commander's invalid-argument error", () => {
    expect(parseBool(' Yes ')).toBe(true);
    expect(parseBool(false)).toBe(false);
    expect(() => parseBool('enable')).toThrow(
      expect.objectContaining({ code: 'commander.invalidArgument' }),
    );
  });
});
