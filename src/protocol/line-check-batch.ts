/**
 * The export line check for many lines at once, in WebAssembly (`wasm/line-check.c`, SIMD):
 * the reader's hot path. It accepts exactly the lines that are valid UTF-8 (as `isUtf8` says)
 * and that `checkExportLine` accepts, and extracts the same fields; a line it rejects gets
 * `undefined`, and the UTF-8 check and `checkExportLine` then say why.
 */

import type { LineCheck } from './line-check.ts';
import { jsonStringAt } from './json-string.ts';
import { LINE_CHECK_WASM } from './wasm/line-check.wasm.ts';

// The few WebAssembly JS API members used here (the `WebAssembly` global is not in the
// TypeScript libs this project compiles against).
interface LineCheckExports {
  readonly memory: { readonly buffer: ArrayBuffer; grow(pages: number): number };
  readonly __heap_base: { readonly value: number };
  check_lines(base: number, bounds: number, count: number, out: number): number;
}
interface WebAssemblyApi {
  Module: new (bytes: Uint8Array) => object;
  Instance: new (module: object, imports: object) => { readonly exports: unknown };
}

/** Result words per line (line-check.c): flags, then start/end of eventType, name, message. */
const WORDS = 7;
const BAD = 1;
const EV_ESCAPED = 2;
const NAME_ESCAPED = 4;
const MSG_ESCAPED = 8;

let module: LineCheckExports | undefined;

function wasm(): LineCheckExports {
  if (!module) {
    const { Module, Instance } = (globalThis as unknown as { WebAssembly: WebAssemblyApi })
      .WebAssembly;
    const instance = new Instance(new Module(Buffer.from(LINE_CHECK_WASM, 'base64')), {});
    module = instance.exports as LineCheckExports;
  }
  return module;
}

/** A line that passed the check: what `checkExportLine` returns for it. */
export type LineCheckOk = Extract<LineCheck, { ok: true }>;

/** Where a line lies in a buffer: `buf[at, at + length)`. */
export interface LineSpan {
  readonly at: number;
  readonly length: number;
}

/**
 * Checks the lines `spans[from, to)` of `buf` (no newlines, in increasing order), their UTF-8
 * included. Calls `each` for every line in order with its check result — what
 * `checkExportLine` returns for it — or `undefined` when the line is bad (not UTF-8, or
 * `checkExportLine` explains it). The result object is reused: it is valid only during
 * the call.
 *
 * @example
 * ```ts
 * const buf = Buffer.from('{"eventType":"violation_audited"}\n[1]\n');
 * checkExportLines(buf, [{ at: 0, length: 33 }, { at: 34, length: 3 }], 0, 2, (i, c) => f(i, c));
 * // 0 { ok: true, eventType: 'violation_audited', … }, then 1 undefined
 * ```
 */
export function checkExportLines(
  buf: Buffer,
  spans: readonly LineSpan[],
  from: number,
  to: number,
  each: (index: number, check: LineCheckOk | undefined) => void,
): void {
  const count = to - from;
  if (count <= 0) return;
  const w = wasm();
  // Layout after the module's own data: the lines' bytes, their bounds, the results.
  const first = spans[from]!.at;
  const last = spans[to - 1]!;
  const bytes = last.at + last.length - first;
  const base = w.__heap_base.value;
  const boundsAt = (base + bytes + 7) & ~7;
  const resultsAt = boundsAt + 8 * count;
  const need = resultsAt + 4 * WORDS * count;
  if (need > w.memory.buffer.byteLength) {
    w.memory.grow(Math.ceil((need - w.memory.buffer.byteLength) / 65536));
  }
  const memory = w.memory.buffer;
  buf.copy(new Uint8Array(memory, base, bytes), 0, first, first + bytes);
  const bounds = new Int32Array(memory, boundsAt, 2 * count);
  for (let i = 0; i < count; i++) {
    const s = spans[from + i]!;
    bounds[2 * i] = s.at - first;
    bounds[2 * i + 1] = s.at + s.length - first;
  }
  w.check_lines(base, boundsAt, count, resultsAt);
  const r = new Int32Array(memory, resultsAt, WORDS * count);
  const check: { -readonly [K in keyof LineCheckOk]: LineCheckOk[K] } = {
    ok: true,
    eventType: undefined,
    message: undefined,
    name: undefined,
  };
  for (let i = 0, k = 0; i < count; i++, k += WORDS) {
    const flags = r[k]!;
    if (flags & BAD) {
      each(from + i, undefined);
      continue;
    }
    check.eventType =
      r[k + 1]! < 0
        ? undefined
        : jsonStringAt(buf, first + r[k + 1]!, first + r[k + 2]!, (flags & EV_ESCAPED) !== 0);
    check.name =
      r[k + 3]! < 0
        ? undefined
        : jsonStringAt(buf, first + r[k + 3]!, first + r[k + 4]!, (flags & NAME_ESCAPED) !== 0);
    // Only markers (no eventType) need their message.
    check.message =
      check.eventType !== undefined || r[k + 5]! < 0
        ? undefined
        : jsonStringAt(buf, first + r[k + 5]!, first + r[k + 6]!, (flags & MSG_ESCAPED) !== 0);
    each(from + i, check);
  }
}
