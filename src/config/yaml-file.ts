import { readFileSync } from 'node:fs';
import {
  isAlias,
  isMap,
  isScalar,
  isSeq,
  LineCounter,
  parseDocument,
  type Document,
  type Node,
} from 'yaml';
import { GkExportError } from '../errors.ts';

/**
 * One value of a YAML configuration file, with where it is: its key path (`sinks[1].url`) and
 * its line (`config.yaml:7`), so that every complaint about it can say both.
 */
export interface YamlValue {
  /** Key path from the top (`''` for the document itself). */
  readonly path: string;
  /** `file:line` of the value (or of its key, for a key). */
  readonly where: string;
  readonly node: Node | null;
}

/** A scalar a setting can take. */
export type YamlScalar = string | number | boolean;

/**
 * Reads a YAML configuration file into a {@link YamlValue} tree walker. A file that cannot be
 * read or is not YAML (duplicate keys included) throws `ERR_INVALID_CONFIG` naming the file and
 * the line.
 *
 * @example
 * ```ts
 * const file = readYamlFile('config.yaml');
 * for (const [key, v] of file.entries(file.root)) console.log(key, v.where);
 * ```
 */
export function readYamlFile(file: string) {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new GkExportError(
      'ERR_INVALID_CONFIG',
      `--config ${file}: cannot read it (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`,
    );
  }
  const lines = new LineCounter();
  const doc: Document = parseDocument(text, { lineCounter: lines, uniqueKeys: true });
  const bad = doc.errors[0];
  if (bad) {
    const line = bad.linePos?.[0].line;
    const what = bad.message.split(' at line ')[0]!.split('\n')[0]!;
    throw new GkExportError(
      'ERR_INVALID_CONFIG',
      `--config ${file}${line ? `:${line}` : ''}: not valid YAML: ${what}`,
    );
  }
  const at = (node: Node | null | undefined) => {
    const offset = node?.range?.[0];
    return offset === undefined ? file : `${file}:${lines.linePos(offset).line}`;
  };
  const resolve = (node: unknown): Node | null => {
    const n = isAlias(node) ? node.resolve(doc) : node;
    return (n ?? null) as Node | null;
  };
  const kind = (v: YamlValue) =>
    isMap(v.node) ? 'a mapping' : isSeq(v.node) ? 'a list' : v.node === null ? 'empty' : 'a value';

  /** Throws the one line about `v`: `sinks[1].url: <message> (config.yaml:7)`. */
  function fail(v: YamlValue, message: string): never {
    const prefix = v.path === '' ? '' : `${v.path}: `;
    throw new GkExportError('ERR_INVALID_CONFIG', `${prefix}${message} (${v.where})`);
  }

  return {
    file,
    root: { path: '', where: at(doc.contents), node: resolve(doc.contents) } as YamlValue,
    fail,
    /** The keys and values of a mapping, in file order; anything else fails. */
    entries(v: YamlValue): [string, YamlValue][] {
      if (!isMap(v.node)) fail(v, `wrong type: expected a mapping, found ${kind(v)}`);
      const out: [string, YamlValue][] = [];
      for (const pair of v.node.items) {
        const keyNode = resolve(pair.key);
        const key = isScalar(keyNode) ? String(keyNode.value) : '?';
        const path = v.path === '' ? key : `${v.path}.${key}`;
        if (!isScalar(keyNode) || typeof keyNode.value !== 'string') {
          fail({ path, where: at(keyNode), node: keyNode }, 'keys are names (strings)');
        }
        const valueNode = resolve(pair.value);
        // Complaints about a setting point at its key.
        out.push([key, { path, where: at(keyNode), node: valueNode }]);
      }
      return out;
    },
    /** The items of a list; anything else fails. */
    items(v: YamlValue): YamlValue[] {
      if (!isSeq(v.node)) fail(v, `wrong type: expected a list, found ${kind(v)}`);
      return v.node.items.map((item, i) => {
        const n = resolve(item);
        return { path: `${v.path}[${i}]`, where: at(n), node: n };
      });
    },
    /** A string, number or boolean; anything else (a mapping, a list, nothing) fails. */
    scalar(v: YamlValue): YamlScalar {
      const value = isScalar(v.node) ? v.node.value : undefined;
      if (typeof value === 'string' || typeof value === 'number' || typeof value === 'boolean') {
        return value;
      }
      return fail(v, `wrong type: expected a single value, found ${kind(v)}`);
    },
    /** A list of strings (a single string counts as a list of one). */
    strings(v: YamlValue): string[] {
      const list = isSeq(v.node) ? this.items(v) : [v];
      return list.map((item) => {
        const s = isScalar(item.node) ? item.node.value : undefined;
        if (typeof s !== 'string' || s === '') {
          fail(item, 'wrong type: expected a non-empty string');
        }
        return s;
      });
    },
    /** Fails for the first key not in `allowed`, listing what is. */
    onlyKeys(v: YamlValue, allowed: readonly string[], what: string): void {
      for (const [key, child] of this.entries(v)) {
        if (!allowed.includes(key)) {
          fail(child, `unknown key${what ? ` for ${what}` : ''}; allowed: ${allowed.join(', ')}`);
        }
      }
    },
  };
}

export type YamlFile = ReturnType<typeof readYamlFile>;
