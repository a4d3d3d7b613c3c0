// Imports ran against the layers: a sink imported the writer (for the Gatekeeper log schema),
// the webhook sink's options imported the reader's, the reader's options imported the disk
// source for a type, and commands imported the reader's options for a default. Every import
// in src/ (type-only and dynamic ones too) is now checked against the layer order below.
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import ts from 'typescript';
import { describe, expect, it } from 'vitest';
import { REPO } from './helpers/cli.ts';

/**
 * The layers, bottom first: each names the paths it holds (a folder ends in `/`) and the
 * layers directly below it. A file may import its own layer and everything below it, directly
 * or through the layers below (telemetry and config sit below all).
 */
const LAYERS: Record<string, { paths: string[]; below: string[] }> = {
  base: { paths: ['src/errors.ts', 'src/durable-fs.ts', 'src/libc.ts'], below: [] },
  config: { paths: ['src/config/'], below: ['base'] },
  telemetry: { paths: ['src/telemetry/'], below: ['base'] },
  protocol: { paths: ['src/protocol/'], below: ['config', 'telemetry'] },
  writer: { paths: ['src/writer/'], below: ['protocol'] },
  /** Files of the state dir other than the checkpoint: dead letter, per-run state files. */
  state: {
    paths: ['src/dead-letter.ts', 'src/completed-run-file.ts'],
    below: ['config', 'telemetry'],
  },
  sinks: { paths: ['src/sinks/'], below: ['protocol', 'state'] },
  pipeline: { paths: ['src/pipeline/'], below: ['sinks'] },
  sources: { paths: ['src/reader/'], below: ['pipeline'] },
  kube: { paths: ['src/kube/'], below: ['config', 'telemetry'] },
  server: { paths: ['src/server/'], below: ['config', 'telemetry'] },
  demo: { paths: ['src/demo/'], below: ['writer'] },
  commands: {
    paths: ['src/commands/', 'src/program.ts', 'src/cli.ts', 'src/index.ts'],
    below: ['sources', 'writer', 'kube', 'server', 'demo'],
  },
};

/** Imports inside one layer that still run the wrong way: a component's options, and the
 * commands other than `read`, depend on no reader implementation. */
const FORBIDDEN: { from: RegExp; to: RegExp; why: string }[] = [
  {
    from: /\/options\.ts$/,
    to: /^src\/reader\/(disk-source|apiserver-audit\/source)\.ts$/,
    why: 'options declare settings; the component imports them, not the other way',
  },
  {
    from: /^src\/commands\/(write|write-run|inspect|write-admission)\.ts$/,
    to: /^src\/reader\/options\.ts$/,
    why: 'defaults live in src/config/defaults.ts',
  },
];

type Edge = { from: string; to: string };

function layerOf(file: string): string | undefined {
  for (const [name, l] of Object.entries(LAYERS)) {
    if (l.paths.some((p) => (p.endsWith('/') ? file.startsWith(p) : file === p))) return name;
  }
  return undefined;
}

/** The layers `name` may import: itself and, transitively, every layer below it. */
function reachable(name: string, seen = new Set<string>()): Set<string> {
  if (seen.has(name)) return seen;
  seen.add(name);
  for (const b of LAYERS[name]!.below) reachable(b, seen);
  return seen;
}

/** One line per import that runs against the layers. */
function violations(edges: readonly Edge[]): string[] {
  const out: string[] = [];
  for (const { from, to } of edges) {
    const a = layerOf(from);
    const b = layerOf(to);
    if (!a || !b) {
      out.push(`${!a ? from : to} is in no layer: add it to LAYERS in test/layers.test.ts`);
      continue;
    }
    if (!reachable(a).has(b)) {
      const may = [...reachable(a)].join(', ');
      out.push(`${from} (${a}) imports ${to} (${b}); ${a} may import only ${may}`);
    }
    for (const f of FORBIDDEN) {
      if (f.from.test(from) && f.to.test(to)) out.push(`${from} imports ${to}: ${f.why}`);
    }
  }
  return out;
}

function sourceFiles(dir: string): string[] {
  return readdirSync(join(REPO, dir), { withFileTypes: true }).flatMap((e) =>
    e.isDirectory()
      ? sourceFiles(join(dir, e.name))
      : e.name.endsWith('.ts')
        ? [join(dir, e.name)]
        : [],
  );
}

/** Every relative import of every file in src/: static, type-only, re-exports and dynamic. */
function importsOfSrc(): Edge[] {
  const edges: Edge[] = [];
  for (const file of sourceFiles('src')) {
    const text = readFileSync(join(REPO, file), 'utf8');
    const { importedFiles } = ts.preProcessFile(text, true, true);
    for (const { fileName } of importedFiles) {
      if (!fileName.startsWith('.')) continue; // packages and node: builtins
      const to = relative(REPO, resolve(REPO, dirname(file), fileName));
      edges.push({ from: file, to });
    }
  }
  return edges;
}

describe('layers', () => {
  it('every import in src/ runs down the layers', () => {
    const edges = importsOfSrc();
    // The parse sees the imports of every kind, or the check below proves nothing.
    expect(edges).toContainEqual({ from: 'src/commands/read.ts', to: 'src/kube/connection.ts' });
    expect(edges).toContainEqual({ from: 'src/pipeline/source.ts', to: 'src/sinks/sink.ts' });
    expect(violations(edges)).toEqual([]);
  });

  it('every file of src/ is in a layer', () => {
    const unplaced = sourceFiles('src').filter((f) => layerOf(f) === undefined);
    expect(unplaced).toEqual([]);
  });

  it('reports an import that runs upward, and one the rules single out', () => {
    expect(
      violations([
        { from: 'src/sinks/gatekeeper-log-format.ts', to: 'src/writer/audit-log.ts' },
        { from: 'src/protocol/names.ts', to: 'src/reader/scan.ts' },
        { from: 'src/commands/inspect.ts', to: 'src/reader/options.ts' },
        { from: 'src/reader/options.ts', to: 'src/reader/disk-source.ts' },
        { from: 'src/reader/scan.ts', to: 'src/protocol/names.ts' },
      ]),
    ).toEqual([
      expect.stringContaining('src/sinks/gatekeeper-log-format.ts (sinks) imports'),
      expect.stringContaining('src/protocol/names.ts (protocol) imports'),
      expect.stringContaining('defaults live in src/config/defaults.ts'),
      expect.stringContaining('options declare settings'),
    ]);
  });
});
