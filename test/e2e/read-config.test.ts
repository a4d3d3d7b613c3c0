import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { REPO, runCli } from '../helpers/cli.ts';

async function checkConfig(args: string[], env: NodeJS.ProcessEnv = {}) {
  const p = runCli(['read', '--check-config', ...args], { env });
  const { code } = await p.exited;
  return { code, out: p.stdout(), err: p.stderr() };
}

describe('read configuration', () => {
  it('prints the resolved defaults and exits 0', async () => {
    const r = await checkConfig([], { ROOT_PATH: '' });
    expect(r.code).toBe(0);
    const { config } = JSON.parse(r.out);
    expect(config).toMatchObject({
      root: '/tmp/violations/topics',
      stateDir: '/tmp/violations/.gk-export-state',
      mode: 'all',
      maxAuditResults: 3,
      maxRecordBytes: 2 * 1024 * 1024,
      abandonAfterMs: 600_000,
      deleteAfterRead: true,
      format: 'raw',
    });
  });

  it('takes the upstream reader environment (ROOT_PATH, DELETE_AFTER_READ)', async () => {
    const r = await checkConfig([], { ROOT_PATH: '/data/topics', DELETE_AFTER_READ: 'false' });
    expect(r.code).toBe(0);
    expect(JSON.parse(r.out).config).toMatchObject({
      root: '/data/topics',
      stateDir: '/data/.gk-export-state',
      deleteAfterRead: false,
    });
  });

  it('lets a flag win over its environment variable', async () => {
    const r = await checkConfig(['--max-audit-results', '1'], { GK_EXPORT_MAX_AUDIT_RESULTS: '4' });
    expect(JSON.parse(r.out).config.maxAuditResults).toBe(1);
    const e = await checkConfig([], { GK_EXPORT_MAX_AUDIT_RESULTS: '4' });
    expect(JSON.parse(e.out).config.maxAuditResults).toBe(4);
  });

  it.each([
    [['--max-audit-results', '6'], 'max-audit-results'],
    [['--mode', 'everything'], 'mode'],
    [['--abandon-after', 'soon'], 'abandon-after'],
    [['--max-record-bytes', '-1'], 'max-record-bytes'],
    [['--drop-field', 'nope'], 'drop-field'],
    [['--root', '/a/topics', '--state-dir', '/a/topics/state'], 'state-dir'],
    [['--no-such-flag'], 'no-such-flag'],
    [['--webhook-concurrency', '0'], 'webhook-concurrency'],
    [['--webhook-flush-interval', 'later'], 'webhook-flush-interval'],
  ])('rejects %j with one line naming the setting and exit code 2', async (args, setting) => {
    const r = await checkConfig(args as string[]);
    expect(r.code).toBe(2);
    const lines = r.err.trim().split('\n');
    expect(lines).toHaveLength(1);
    expect(lines[0]).toContain(setting);
  });

  it('rejects a bad value from the environment naming the variable', async () => {
    const r = await checkConfig([], { DELETE_AFTER_READ: 'maybe' });
    expect(r.code).toBe(2);
    expect(r.err).toContain('DELETE_AFTER_READ');
  });

  // Bug: GK_EXPORT_WEBHOOK_INSECURE_SKIP_VERIFY=false turned certificate verification off.
  it.each([
    ['false', false],
    ['FALSE', false],
    ['0', false],
    ['no', false],
    ['true', true],
    ['Yes', true],
  ])(
    'reads GK_EXPORT_WEBHOOK_INSECURE_SKIP_VERIFY=%s as insecureSkipVerify %s',
    async (value, expected) => {
      const r = await checkConfig(['--sink', 'webhook', '--webhook-url', 'https://r.example/'], {
        GK_EXPORT_WEBHOOK_INSECURE_SKIP_VERIFY: value,
      });
      expect(r.code).toBe(0);
      expect(JSON.parse(r.out).webhook.insecureSkipVerify).toBe(expected);
    },
  );

  it.each(['maybe', 'on', ''])(
    'refuses GK_EXPORT_WEBHOOK_INSECURE_SKIP_VERIFY=%j with one line naming it and exit code 2',
    async (value) => {
      const r = await checkConfig(['--sink', 'webhook', '--webhook-url', 'https://r.example/'], {
        GK_EXPORT_WEBHOOK_INSECURE_SKIP_VERIFY: value,
      });
      expect(r.code).toBe(2);
      expect(r.err.trim().split('\n')).toHaveLength(1);
      expect(r.err).toContain('GK_EXPORT_WEBHOOK_INSECURE_SKIP_VERIFY');
    },
  );

  // Bug: --changes-only with only the OpenReports sink was accepted and did nothing.
  it('refuses --changes-only when no sink takes records one by one', async () => {
    const r = await checkConfig(['--sink', 'openreports', '--changes-only']);
    expect(r.code).toBe(2);
    expect(r.err.trim().split('\n')).toEqual([
      'gk-export read: --changes-only is for record sinks (stdout, webhook); OpenReports always takes whole runs',
    ]);
    const ok = await checkConfig(['--sink', 'openreports', '--sink', 'stdout', '--changes-only']);
    expect(ok.code).toBe(0);
    expect(JSON.parse(ok.out).changesOnly).toBe(true);
  });

  it('prints the version of package.json with --version and -V, exit 0', async () => {
    const { version } = JSON.parse(await readFile(join(REPO, 'package.json'), 'utf8')) as {
      version: string;
    };
    for (const flag of ['--version', '-V']) {
      const p = runCli([flag]);
      expect((await p.exited).code).toBe(0);
      expect(p.stdout()).toBe(`${version}\n`);
    }
  });

  it('fails an unknown command with one line and exit code 2', async () => {
    const p = runCli(['frobnicate']);
    expect((await p.exited).code).toBe(2);
    expect(p.stderr().trim().split('\n')).toHaveLength(1);
  });
});
