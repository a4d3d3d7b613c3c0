import { appendFile, mkdir } from 'node:fs/promises';
import { join } from 'node:path';

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

/** File name of the dead-letter file inside the state dir. */
export const DEAD_LETTER_FILE = 'dead-letter.jsonl';

/**
 * The dead-letter file (`<state-dir>/dead-letter.jsonl`): one JSON object per set-aside line or
 * batch, appended. Raw bytes are kept as text when they are valid UTF-8, else as base64.
 *
 * @example
 * ```ts
 * const dl = createDeadLetter('/var/state');
 * await dl.line({ file: 'c/r.log', line: 3, code: 'invalid_json', reason: '…', bytes });
 * ```
 */
export function createDeadLetter(stateDir: string) {
  const path = join(stateDir, DEAD_LETTER_FILE);
  let ready: Promise<unknown> | undefined;
  // Appends are serialised so entries never interleave.
  let tail: Promise<void> = Promise.resolve();

  function append(entry: Record<string, unknown>): Promise<void> {
    ready ??= mkdir(stateDir, { recursive: true, mode: 0o700 });
    const text = JSON.stringify({ ts: new Date().toISOString(), ...entry }) + '\n';
    tail = tail
      .catch(() => undefined)
      .then(async () => {
        await ready;
        await appendFile(path, text, { mode: 0o600 });
      });
    return tail;
  }

  return {
    path,
    line(d: DeadLine): Promise<void> {
      const utf8 = isValidUtf8(d.bytes);
      return append({
        kind: 'line',
        file: d.file,
        line: d.line,
        code: d.code,
        reason: d.reason,
        ...(utf8 ? { raw: d.bytes.toString('utf8') } : { rawBase64: d.bytes.toString('base64') }),
      });
    },
    batch(d: DeadBatch): Promise<void> {
      return append({ kind: 'batch', ...d });
    },
  };
}

export type DeadLetter = ReturnType<typeof createDeadLetter>;

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
