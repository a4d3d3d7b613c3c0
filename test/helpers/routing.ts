import { mkdir, readdir, rename, utimes, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { encodeExportMsg } from '../../src/protocol/encode.ts';
import type { Received } from './receiver.ts';
import { auditIdOf, violation } from './runs.ts';

/** Namespaces of the routing tests: `ns-0` … `ns-11` (so `ns-1*` is ns-1, ns-10 and ns-11). */
export const NAMESPACES = 12;

/** `<id>/<resourceName>` of violation `i` of run `index`: what a receiver's records are compared by. */
export const recordId = (index: number, i: number) => `${auditIdOf(index)}/pod-${i}`;

/** The namespace of violation `i`. */
export const namespaceOf = (i: number) => `ns-${i % NAMESPACES}`;

/**
 * Writes completed run `index` of channel `channel` with `n` violations spread over
 * {@link NAMESPACES} namespaces (`.txt`, renamed to `.log`, mtime by index).
 */
export async function writeNamespacedRun(
  root: string,
  channel: string,
  index: number,
  n: number,
): Promise<string> {
  const id = auditIdOf(index);
  const lines = [encodeExportMsg({ id, message: 'audit is started' })];
  for (let i = 0; i < n; i++) {
    lines.push(encodeExportMsg(violation(id, i, { resourceNamespace: namespaceOf(i) })));
  }
  lines.push(encodeExportMsg({ id, message: 'audit is completed' }));
  const dir = join(root, channel);
  await mkdir(dir, { recursive: true });
  const run = id.replaceAll(':', '_');
  await writeFile(join(dir, `${run}.txt`), lines.join('\n') + '\n');
  await rename(join(dir, `${run}.txt`), join(dir, `${run}.log`));
  await utimes(join(dir, `${run}.log`), 1_000_000 + index, 1_000_000 + index);
  return join(dir, `${run}.log`);
}

/** The completed run files of a channel directory. */
export async function runFiles(root: string, channel: string): Promise<string[]> {
  return (await readdir(join(root, channel)).catch(() => [] as string[])).filter((f) =>
    f.endsWith('.log'),
  );
}

/** Every record an ndjson receiver got, as `<id>/<resourceName>` with its namespace. */
export function receivedRecords(received: readonly Received[]) {
  return received.flatMap((r) =>
    r.body
      .split('\n')
      .filter(Boolean)
      .map((l) => {
        const m = JSON.parse(l) as { id: string; resourceName: string; resourceNamespace: string };
        return { id: `${m.id}/${m.resourceName}`, namespace: m.resourceNamespace };
      }),
  );
}
