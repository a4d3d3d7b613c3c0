// Bug: exports["."] and exports["./protocol"] named dist/index.js and dist/protocol/index.js,
// which the build never emitted, so `import 'gk-export'` and `import 'gk-export/protocol'`
// threw ERR_MODULE_NOT_FOUND in every project that installed the package. This packs the
// package as `npm publish` would, installs the tarball into a fresh project (runtime
// dependencies only), and uses it from there as a consumer does: every entry of `exports`
// imported on Node 24, a run written through `gk-export/writer`, a TypeScript consumer
// type-checked against the shipped declarations.
import { execFile } from 'node:child_process';
import { access, mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { REPO } from '../helpers/cli.ts';
import { runLines, violation } from '../helpers/runs.ts';
import { makeTmpDir } from '../helpers/tmp.ts';

const run = promisify(execFile);
const TSC = join(REPO, 'node_modules', 'typescript', 'bin', 'tsc');

interface Manifest {
  exports: Record<string, { types: string; default: string }>;
}

/** What each entry must offer (a sample of its API, not the whole list). */
const EXPECTED: Record<string, string[]> = {
  '.': ['createDiskWriter', 'encodeExportMsg', 'validateExportMsg', 'classifyFileName'],
  './writer': ['createDiskWriter', 'createAdmissionWriter', 'createAuditLogger', 'GkExportError'],
  './protocol': ['encodeExportMsg', 'validateExportMsg', 'classifyFileName', 'FileState'],
};

describe('the packed package, installed into another project', () => {
  let tmp: Awaited<ReturnType<typeof makeTmpDir>>;
  let app: string;
  let manifest: Manifest;

  /** Runs an ES module script in the consumer project on the tests' Node (24). */
  const node = (script: string, ...args: string[]) =>
    run(process.execPath, ['--input-type=module', '-e', script, ...args], { cwd: app });

  beforeAll(async () => {
    manifest = JSON.parse(await readFile(join(REPO, 'package.json'), 'utf8')) as Manifest;
    // `npm test` builds before it tests; a lone run of this file needs `npm run build` first.
    await access(join(REPO, 'dist', 'cli.js')).catch(() => {
      throw new Error('dist/ is missing: run `npm run build` first');
    });
    tmp = await makeTmpDir('gk-export-pack-');
    app = join(tmp.dir, 'consumer');
    await mkdir(app);
    // --ignore-scripts: dist/ is already built, and rebuilding it here would race the other
    // test files that read it.
    const { stdout } = await run(
      'npm',
      ['pack', '--ignore-scripts', '--json', '--pack-destination', tmp.dir],
      { cwd: REPO, timeout: 60_000 },
    );
    const [packed] = JSON.parse(stdout) as { filename: string }[];
    await writeFile(
      join(app, 'package.json'),
      JSON.stringify({ name: 'consumer', private: true, type: 'module' }),
    );
    await run(
      'npm',
      [
        'install',
        '--prefer-offline',
        '--no-audit',
        '--no-fund',
        '--omit=dev',
        join(tmp.dir, packed!.filename),
      ],
      { cwd: app, timeout: 240_000 },
    );
  }, 300_000);
  afterAll(() => tmp?.cleanup());

  it('imports every entry of exports, each with its API', async () => {
    const entries = Object.keys(manifest.exports);
    expect(entries.sort()).toEqual(Object.keys(EXPECTED).sort());
    for (const entry of entries) {
      const spec = entry === '.' ? 'gk-export' : `gk-export/${entry.slice(2)}`;
      const { stdout } = await node(
        'const m = await import(process.argv[1]); console.log(JSON.stringify(Object.keys(m)));',
        spec,
      );
      expect(JSON.parse(stdout), spec).toEqual(expect.arrayContaining(EXPECTED[entry]!));
    }
  });

  it('writes a complete run through gk-export/writer, byte for byte', async () => {
    const root = join(tmp.dir, 'topics');
    const id = '2026-01-01T00:00:00Z';
    const script = `
      import { createDiskWriter } from 'gk-export/writer';
      const [root, id, records] = process.argv.slice(1);
      const writer = createDiskWriter({ root, maxAuditResults: 3 });
      await writer.publish('audit-channel', { id, message: 'audit is started' });
      for (const r of JSON.parse(records)) await writer.publish('audit-channel', r);
      await writer.publish('audit-channel', { id, message: 'audit is completed' });
    `;
    const records = [violation(id, 0), violation(id, 1)];
    await node(script, root, id, JSON.stringify(records));
    const text = await readFile(join(root, 'audit-channel', '2026-01-01T00_00_00Z.log'), 'utf8');
    expect(text).toBe(runLines(id, 2).join(''));
  });

  it('type-checks a TypeScript consumer against the shipped declarations', async () => {
    await writeFile(
      join(app, 'consumer.ts'),
      `import { createDiskWriter, type ExportMsg } from 'gk-export/writer';
import { classifyFileName, encodeExportMsg, FileState, validateExportMsg } from 'gk-export/protocol';
import * as gk from 'gk-export';

const msg: ExportMsg = { eventType: 'violation_audited', name: 'must-have-owner' };
const writer = createDiskWriter({ root: '/tmp/violations/topics', maxAuditResults: 3 });
const line: string = encodeExportMsg(msg);
const r = validateExportMsg(JSON.parse(line));
const name: string | undefined = r.ok ? r.msg.name : undefined;
const complete: boolean = classifyFileName('a.log').state === FileState.AuditComplete;
const same: typeof createDiskWriter = gk.createDiskWriter;
// @ts-expect-error name is a string: the declarations carry the record's types
const wrong: ExportMsg = { name: 5 };
export { writer, name, complete, same, wrong };
`,
    );
    await writeFile(
      join(app, 'tsconfig.json'),
      JSON.stringify({
        compilerOptions: {
          target: 'es2024',
          module: 'nodenext',
          moduleResolution: 'nodenext',
          strict: true,
          noEmit: true,
          // The shipped .d.ts files are checked too, not only the consumer.
          skipLibCheck: false,
          types: ['node'],
          typeRoots: [join(REPO, 'node_modules', '@types')],
        },
        files: ['consumer.ts'],
      }),
    );
    const r = await run(process.execPath, [TSC, '-p', app], { cwd: app }).catch(
      (err: { stdout: string; code: number }) => err,
    );
    expect(r.stdout).toBe('');
    expect('code' in r ? r.code : 0).toBe(0);
  });
});
