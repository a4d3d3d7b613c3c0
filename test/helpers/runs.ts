import { appendFile, mkdir, rename, utimes, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { encodeExportMsg } from '../../src/protocol/encode.ts';
import type { ExportMsg } from '../../src/protocol/record.ts';
import type { Delivery } from '../../src/sinks/sink.ts';

/** A realistic violation record of run `auditId`, number `i`. */
export function violation(auditId: string, i: number, over: Partial<ExportMsg> = {}): ExportMsg {
  return {
    id: auditId,
    details: { missing_labels: ['owner'] },
    eventType: 'violation_audited',
    group: 'constraints.gatekeeper.sh',
    version: 'v1beta1',
    kind:
      i % 3 === 0 ? 'K8sRequiredLabels' : i % 3 === 1 ? 'K8sAllowedRepos' : 'K8sContainerLimits',
    name: `constraint-${i % 3}`,
    message: `violation number ${i} <with> & "escapes"`,
    enforcementAction: i % 5 === 0 ? 'warn' : 'deny',
    resourceAPIVersion: 'v1',
    resourceKind: 'Pod',
    resourceNamespace: `ns-${i % 4}`,
    resourceName: `pod-${i}`,
    resourceLabels: { app: 'demo', 'pod-template-hash': 'abc123' },
    ...over,
  };
}

/** The lines of a complete run (markers included), each ending in `\n`. */
export function runLines(auditId: string, n: number, complete = true): string[] {
  const lines = [encodeExportMsg({ id: auditId, message: 'audit is started' })];
  for (let i = 0; i < n; i++) lines.push(encodeExportMsg(violation(auditId, i)));
  if (complete) lines.push(encodeExportMsg({ id: auditId, message: 'audit is completed' }));
  return lines.map((l) => l + '\n');
}

/** `2026-01-01T00:00:07Z` for run index 7: distinct, sortable audit IDs. */
export function auditIdOf(i: number): string {
  const base = Date.UTC(2026, 0, 1, 0, 0, 0);
  return new Date(base + i * 1000).toISOString().replace('.000Z', 'Z');
}

/**
 * Writes a completed run the way the writer does (`.txt`, then renamed to `.log`), with its
 * mtime set to `mtimeSec` when given so completion order is deterministic.
 */
export async function writeCompletedRun(
  root: string,
  channel: string,
  auditId: string,
  n: number,
  mtimeSec?: number,
): Promise<string> {
  const dir = join(root, channel);
  await mkdir(dir, { recursive: true });
  const run = auditId.replaceAll(':', '_');
  const txt = join(dir, `${run}.txt`);
  await writeFile(txt, runLines(auditId, n).join(''));
  const log = join(dir, `${run}.log`);
  await rename(txt, log);
  if (mtimeSec !== undefined) await utimes(log, mtimeSec, mtimeSec);
  return log;
}

/** Appends raw text to a file (creating it). */
export async function appendRaw(path: string, text: string | Buffer): Promise<void> {
  await appendFile(path, text);
}

/** Records as a source hands them to the sinks: channel `c`, run `r`, from line `firstLine`. */
export function deliveriesOf(msgs: readonly ExportMsg[], firstLine = 2): Delivery[] {
  return msgs.map((msg, k) => ({
    key: `c/r/${firstLine + k}`,
    source: 'audit',
    channel: 'c',
    run: 'r',
    line: firstLine + k,
    raw: encodeExportMsg(msg),
    msg,
  }));
}

/** `n` violations (`pod-<from>` …) as deliveries; violation i is on line i + 2. */
export function deliveries(n: number, from = 0): Delivery[] {
  const msgs = Array.from({ length: n }, (_, k) => violation('2026-01-01T00:00:00Z', from + k));
  return deliveriesOf(msgs, from + 2);
}
