import { mkdir, open } from 'node:fs/promises';
import { join } from 'node:path';
import { GkExportError, type DeadLetterErrorCode } from './errors.ts';
import type { Telemetry } from './telemetry/index.ts';

/** A bad line set aside: where it was, why, and its bytes. */
export interface DeadLine {
  readonly file: string;
  readonly line: number;
  readonly code: string;
  readonly reason: string;
  readonly bytes: Buffer;
}

/** A batch a sink rejected for good. */
export interface DeadBatch {
  readonly sink: string;
  readonly code: string;
  readonly reason: string;
  readonly status?: number;
  readonly responseExcerpt?: string;
  readonly keys: readonly string[];
  readonly lines: readonly string[];
}

/**
 * How hard to try. Without a `signal` one attempt is made and a failure throws
 * `ERR_DEAD_LETTER_WRITE`. With one, a failed write is retried with backoff until it succeeds
 * or the signal aborts (`ERR_DEAD_LETTER_INTERRUPTED`): a record that cannot be set aside
 * holds up what comes after it, it is never skipped.
 */
export interface SetAsideOptions {
  readonly signal?: AbortSignal;
  /** Called once, when the first attempt failed and retries begin (e.g. to flush what came before). */
  readonly onBlocked?: () => Promise<void>;
}

export interface DeadLetterOptions {
  /** Logs the first failure of each entry (ERROR) and its recovery, and counts them. */
  readonly telemetry?: Telemetry;
  /** First retry delay (doubled per attempt up to `retryMaxMs`). Default 100 ms. */
  readonly retryBaseMs?: number;
  /** Default 5 s. */
  readonly retryMaxMs?: number;
}

/** File name of the dead-letter file inside the state dir. */
export const DEAD_LETTER_FILE = 'dead-letter.jsonl';

/**
 * The dead-letter file (`<state-dir>/dead-letter.jsonl`): one JSON object per set-aside line or
 * batch, appended and synced before the caller moves on. Raw bytes are kept as text when they
 * are valid UTF-8, else as base64. When the file cannot be written (a full volume, a directory
 * in its place, wrong owner), the first failure of an entry is logged at ERROR, the entry
 * counts in `gk_export_dead_letter_blocked` (readiness) until written, and a caller that
 * passed a signal waits, retrying with backoff.
 *
 * @example
 * ```ts
 * const dl = createDeadLetter('/var/state', { telemetry });
 * await dl.line({ file: 'c/r.log', line: 3, code: 'invalid_json', reason: '…', bytes }, { signal });
 * ```
 */
export function createDeadLetter(stateDir: string, opts: DeadLetterOptions = {}) {
  const path = join(stateDir, DEAD_LETTER_FILE);
  const baseMs = opts.retryBaseMs ?? 100;
  const maxMs = opts.retryMaxMs ?? 5000;
  let dirMade = false;
  // Attempts are serialised so entries never interleave.
  let tail: Promise<void> = Promise.resolve();

  async function writeOnce(text: string): Promise<void> {
    if (!dirMade) {
      await mkdir(stateDir, { recursive: true, mode: 0o700 });
      dirMade = true;
    }
    const fh = await open(path, 'a', 0o600);
    try {
      const { size } = await fh.stat();
      try {
        await fh.writeFile(text);
        // Set aside for good before the checkpoint (synced too) moves past the record.
        await fh.datasync();
      } catch (err) {
        // A partial entry (ENOSPC mid-write) would corrupt the line the retry appends.
        await fh.truncate(size).catch(() => undefined);
        throw err;
      }
    } finally {
      await fh.close().catch(() => undefined);
    }
  }

  function attempt(text: string): Promise<void> {
    const p = tail.catch(() => undefined).then(() => writeOnce(text));
    tail = p;
    return p;
  }

  async function append(
    entry: Record<string, unknown>,
    where: Record<string, unknown>,
    o: SetAsideOptions = {},
  ): Promise<void> {
    const text = JSON.stringify({ ts: new Date().toISOString(), ...entry }) + '\n';
    const t = opts.telemetry;
    let blocked = false;
    try {
      for (let n = 0; ; n++) {
        try {
          await attempt(text);
          if (blocked) {
            t?.log.info({ ...where, path, attempts: n + 1 }, 'dead-letter file writable again');
          }
          return;
        } catch (err) {
          t?.metrics.deadLetterWriteFailures.inc();
          const reason = (err as Error).message;
          if (!o.signal || o.signal.aborted) {
            throw new GkExportError<DeadLetterErrorCode>(
              o.signal ? 'ERR_DEAD_LETTER_INTERRUPTED' : 'ERR_DEAD_LETTER_WRITE',
              o.signal
                ? `stopped while the dead-letter file ${path} could not be written`
                : `cannot write the dead-letter file ${path}: ${reason}`,
              { cause: err },
            );
          }
          if (!blocked) {
            blocked = true;
            t?.metrics.deadLetterBlocked.inc();
            t?.log.error(
              { ...where, path, err: reason },
              'cannot write the dead-letter file: delivery stops at this record and retries until it can be set aside',
            );
            await o.onBlocked?.();
          }
          await sleep(Math.min(maxMs, baseMs * 2 ** Math.min(n, 20)), o.signal);
        }
      }
    } finally {
      if (blocked) t?.metrics.deadLetterBlocked.dec();
    }
  }

  return {
    path,
    line(d: DeadLine, o?: SetAsideOptions): Promise<void> {
      const utf8 = isValidUtf8(d.bytes);
      return append(
        {
          kind: 'line',
          file: d.file,
          line: d.line,
          code: d.code,
          reason: d.reason,
          ...(utf8 ? { raw: d.bytes.toString('utf8') } : { rawBase64: d.bytes.toString('base64') }),
        },
        { file: d.file, line: d.line },
        o,
      );
    },
    batch(d: DeadBatch, o?: SetAsideOptions): Promise<void> {
      return append(
        { kind: 'batch', ...d },
        { sink: d.sink, records: d.keys.length, first: d.keys[0] },
        o,
      );
    },
  };
}

export type DeadLetter = ReturnType<typeof createDeadLetter>;

/** Resolves after `ms`, or at once when `signal` aborts. */
function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      clearTimeout(timer);
      signal.removeEventListener('abort', done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal.addEventListener('abort', done, { once: true });
  });
}

const decoder = new TextDecoder('utf-8', { fatal: true });

/** True when `bytes` is well-formed UTF-8. */
export function isValidUtf8(bytes: Uint8Array): boolean {
  try {
    decoder.decode(bytes);
    return true;
  } catch {
    return false;
  }
}
