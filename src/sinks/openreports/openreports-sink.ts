import { join } from 'node:path';
import type { DeadLetter } from '../../dead-letter.ts';
import { GkExportError, type OpenReportsErrorCode } from '../../errors.ts';
import type { Telemetry } from '../../telemetry/index.ts';
import type { Delivery, Sink } from '../sink.ts';
import { backoffMs, retryAfterMs, statusClass } from '../webhook/retry.ts';
import { createReportsApi, ReportsApiError, type ReportsApi } from './kube-api.ts';
import type { OpenReportsConfig } from './options.ts';
import { reportObject, reportTarget, type ReportTarget, type Summary } from './reports.ts';
import { toReportResult, type ReportResult } from './results.ts';
import { openRunJournal, type JournalEntry, type RunJournal } from './run-journal.ts';

export interface OpenReportsDeps {
  readonly telemetry: Telemetry;
  readonly deadLetter: DeadLetter;
  /** The reader's state dir: the sink's journal lives in `openreports/<channel>/` under it. */
  readonly stateDir: string;
  /** The sink's name in metrics and logs (default `openreports`). */
  readonly name?: string;
  /** The API (default: @kubernetes/client-node with `config.kubeconfigPath`). */
  readonly api?: ReportsApi;
  /** For tests of the backoff arithmetic. */
  readonly random?: () => number;
}

interface ChannelEntry {
  readonly name: string;
  readonly journal: RunJournal;
  readonly target: ReportTarget;
  /** Scopes whose report has results on the server (listed once, then kept up to date). */
  known?: Set<string>;
  /** Resolves when the channel's next batch may be handled (a run's apply is done). */
  gate: Promise<void>;
}

type Outcome = 'applied' | 'gone' | 'dead-lettered';

/**
 * `--sink openreports`: each completed audit run becomes openreports.io/v1alpha1 objects —
 * per channel one `Report` per namespace with violations and one `ClusterReport` for
 * cluster-scoped resources — applied server-side (`fieldManager: gk-export`) when the run's
 * completion marker arrives, so each run replaces the previous results; a scope whose
 * violations are all gone gets its report emptied. A run's batches are acknowledged once
 * journaled (so the reader reads on, in bounded memory), the batch with the completion marker
 * only once every report is applied: the run's final checkpoint never passes an unapplied
 * report, and after a crash the journal restores the part of the run already checkpointed.
 * 409, 429, 5xx and connection errors are retried with backoff; other errors put the object
 * in the dead-letter file with the status.
 *
 * @example
 * ```ts
 * const sink = await createOpenReportsSink(resolveOpenReportsConfig(opts), { telemetry, deadLetter, stateDir });
 * ```
 */
export async function createOpenReportsSink(
  config: OpenReportsConfig,
  deps: OpenReportsDeps,
): Promise<Sink & { interrupt(): void }> {
  const { log, metrics } = deps.telemetry;
  const sinkName = deps.name ?? 'openreports';
  metrics.sinkUp.set({ sink: sinkName }, 1);
  const api = deps.api ?? (await createReportsApi(config.kubeconfigPath));
  const channels = new Map<string, ChannelEntry>();
  let interrupted = false;
  const sleepers = new Set<() => void>();

  function channel(name: string): ChannelEntry {
    let ch = channels.get(name);
    if (!ch) {
      const journal = openRunJournal(join(deps.stateDir, 'openreports', name), config.maxResults);
      ch = { name, journal, target: reportTarget(name), gate: Promise.resolve() };
      channels.set(name, ch);
    }
    return ch;
  }

  /** Adds a batch to its run (synchronously, in call order); returns its acknowledgement. */
  function handle(ch: ChannelEntry, batch: readonly Delivery[]) {
    const j = ch.journal;
    const first = batch[0]!;
    // Lines of a run already applied: a repeat after a crash.
    if (j.applied?.run === first.run) return { acked: Promise.resolve(), applying: false };
    if (j.current?.run !== first.run || first.marker === 'started') {
      j.begin(first.run, first.marker === 'started');
    }
    const cur = j.current!;
    const kept: [string, ReportResult][] = [];
    const counts: Record<string, Partial<Summary>> = {};
    let completion: Delivery | undefined;
    let to = cur.upTo;
    let records = 0;
    for (const d of batch) {
      if (d.line <= cur.upTo || completion) continue;
      to = Math.max(to, d.line);
      if (d.marker === 'completed') completion = d;
      if (d.marker) continue;
      records += 1;
      const ns = d.msg.resourceNamespace ?? '';
      const r = toReportResult(d.msg, d.run);
      if (cur.results.add(ns, r)) kept.push([ns, r]);
      const c = (counts[ns] ??= {});
      c[r.result] = (c[r.result] ?? 0) + 1;
    }
    if (records > 0) j.append({ to, kept, counts } satisfies JournalEntry);
    const delivered = () => metrics.delivered.inc({ sink: sinkName }, records);
    if (!completion) {
      delivered();
      return { acked: Promise.resolve(), applying: false };
    }
    if (!cur.tracking) {
      delivered();
      log.warn(
        { sink: sinkName, channel: ch.name, run: first.run },
        'run not seen from its first line: its reports are left as they are until the next complete run',
      );
      return { acked: Promise.resolve(), applying: false };
    }
    const marker = completion;
    const acked = applyRun(ch, marker).then(() => {
      j.commit(marker.line);
      delivered();
    });
    return { acked, applying: true };
  }

  async function applyRun(ch: ChannelEntry, marker: Delivery): Promise<void> {
    const cur = ch.journal.current!;
    const run = { auditId: marker.msg.id ?? marker.run, maxResults: config.maxResults };
    ch.known ??= await listScopes(ch);
    const scopes = cur.results.scopes;
    const objects = [...scopes].map(([ns, s]) => ({
      ns,
      obj: reportObject(ch.target, ns, s, run),
    }));
    const emptied = [...ch.known].filter((ns) => !scopes.has(ns));
    for (const ns of emptied)
      objects.push({ ns, obj: reportObject(ch.target, ns, undefined, run) });
    const outcomes = await inPool(objects, config.concurrency, (o) => applyWithRetry(o.obj));
    // An emptying that failed for good is tried again after the next run.
    const next = new Set(scopes.keys());
    objects.forEach((o, i) => {
      if (!scopes.has(o.ns) && outcomes[i] === 'dead-lettered') next.add(o.ns);
    });
    ch.known = next;
    let truncated = 0;
    let results = 0;
    for (const s of scopes.values()) {
      const total = Object.values(s.summary).reduce((a, n) => a + n, 0);
      results += total;
      if (total > s.results.length) truncated += 1;
    }
    log.info(
      {
        sink: sinkName,
        channel: ch.name,
        run: marker.run,
        reports: scopes.size,
        emptied: emptied.length,
        results,
        truncated,
        deadLettered: outcomes.filter((o) => o === 'dead-lettered').length,
      },
      'reports applied',
    );
  }

  async function listScopes(ch: ChannelEntry): Promise<Set<string>> {
    for (let attempt = 0; ; attempt++) {
      try {
        return await api.scopesWithResults(ch.target);
      } catch (err) {
        if (!(err instanceof ReportsApiError)) throw err;
        if (!err.retryable) {
          // Reports left by an earlier process are then not emptied; new ones still are.
          log.warn(
            { sink: sinkName, channel: ch.name, status: err.status, err: err.message },
            'cannot list existing reports (RBAC: grant list on reports and clusterreports)',
          );
          return new Set();
        }
        await backoff(err, attempt);
      }
    }
  }

  async function applyWithRetry(obj: Record<string, unknown>): Promise<Outcome> {
    const empty = (obj.results as unknown[]).length === 0;
    for (let attempt = 0; ; attempt++) {
      try {
        await api.apply(obj);
        metrics.sinkUp.set({ sink: sinkName }, 1);
        return 'applied';
      } catch (err) {
        if (!(err instanceof ReportsApiError)) throw err;
        // The namespace is gone, and its report with it: nothing left to empty.
        if (empty && err.status === 404) return 'gone';
        if (!err.retryable) {
          await deadLetterObject(obj, err);
          return 'dead-lettered';
        }
        await backoff(err, attempt);
      }
    }
  }

  async function backoff(err: ReportsApiError, attempt: number): Promise<void> {
    if (interrupted) {
      throw new GkExportError<OpenReportsErrorCode>(
        'ERR_SINK_INTERRUPTED',
        'stopped while retrying the OpenReports API',
      );
    }
    metrics.retries.inc({
      sink: sinkName,
      status_class: statusClass(err.status ?? 'network'),
    });
    metrics.sinkUp.set({ sink: sinkName }, 0);
    const delay =
      retryAfterMs(err.retryAfter, config.maxBackoffMs) ??
      backoffMs(attempt, config.maxBackoffMs, deps.random);
    if (attempt === 0 || attempt % 10 === 0) {
      log.warn(
        { sink: sinkName, attempt: attempt + 1, status: err.status, err: err.message },
        'OpenReports API call failed; retrying (the reader waits)',
      );
    }
    await new Promise<void>((resolve) => {
      const wake = () => {
        clearTimeout(t);
        sleepers.delete(wake);
        resolve();
      };
      const t = setTimeout(wake, delay);
      sleepers.add(wake);
    });
  }

  async function deadLetterObject(obj: Record<string, unknown>, err: ReportsApiError) {
    const meta = obj.metadata as { name: string; namespace?: string };
    const ref = `${String(obj.kind)}/${meta.namespace ? `${meta.namespace}/` : ''}${meta.name}`;
    metrics.deadLettered.inc({ stage: 'sink', sink: sinkName });
    log.error(
      { sink: sinkName, object: ref, status: err.status, err: err.message },
      'API server refused the report for good: object set aside in the dead-letter file',
    );
    await deps.deadLetter.batch({
      sink: sinkName,
      code: err.status ? `http_${err.status}` : 'permanent',
      reason: err.message,
      status: err.status,
      responseExcerpt: err.body,
      keys: [ref],
      lines: [JSON.stringify(obj)],
    });
  }

  return {
    name: sinkName,
    write(batch) {
      const first = batch[0];
      // Admission and API-server records are not audit results: reports show audit runs.
      if (!first || first.source !== 'audit') return Promise.resolve();
      let ch: ChannelEntry;
      try {
        ch = channel(first.channel);
      } catch (err) {
        return Promise.reject(err);
      }
      const step = ch.gate.then(() => handle(ch, batch));
      ch.gate = step.then(
        (s) => (s.applying ? s.acked.catch(() => undefined) : undefined),
        () => undefined,
      );
      return step.then((s) => s.acked);
    },
    interrupt() {
      interrupted = true;
      for (const wake of [...sleepers]) wake();
    },
    async close() {
      for (const ch of channels.values()) ch.journal.close();
    },
  };
}

/** Runs `fn` over `items`, at most `n` at once; results in item order. */
async function inPool<T, R>(
  items: readonly T[],
  n: number,
  fn: (t: T) => Promise<R>,
): Promise<R[]> {
  const out: R[] = new Array(items.length);
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const i = next++;
      out[i] = await fn(items[i]!);
    }
  };
  await Promise.all(Array.from({ length: Math.min(n, items.length) }, worker));
  return out;
}
