// The text of a JSON string found in a line's bytes, for the line checks (the reference one in
// line-check.ts and the WebAssembly one in line-check-batch.ts).

// eventType and constraint names repeat on almost every line: keep recent ones to skip the
// (comparatively costly) native string decoding.
const CACHE_SIZE = 32;
const cacheBytes: Uint8Array[] = [];
const cacheText: string[] = [];
let cacheNext = 0;

/**
 * The text of the JSON string whose content (between the quotes) is `b[start, end)`;
 * `escaped` says it contains backslash escapes. Recent unescaped values are cached.
 *
 * @example
 * ```ts
 * jsonStringAt(Buffer.from('"a\\u00e9"'), 1, 8, true); // 'aé'
 * ```
 */
export function jsonStringAt(b: Buffer, start: number, end: number, escaped: boolean): string {
  if (escaped) return decodeJsonString(b, start, end, true);
  const len = end - start;
  // (Values that differ often differ only at the end, "constraint-1" and "constraint-2": the
  // last byte is compared first.)
  const lastByte = len > 0 ? b[end - 1] : undefined;
  search: for (let c = 0; c < cacheBytes.length; c++) {
    const cb = cacheBytes[c]!;
    if (cb.length !== len || cb[len - 1] !== lastByte) continue;
    for (let k = 0; k < len; k++) if (cb[k] !== b[start + k]) continue search;
    return cacheText[c]!;
  }
  const text = decodeJsonString(b, start, end, false);
  // A copy: Buffer#slice is a view, which would pin the whole chunk (and see it reused).
  cacheBytes[cacheNext] = Uint8Array.prototype.slice.call(b, start, end);
  cacheText[cacheNext] = text;
  cacheNext = (cacheNext + 1) % CACHE_SIZE;
  return text;
}

/**
 * The text of the JSON string whose content is `b[start, end)`, without the cache.
 *
 * @example
 * ```ts
 * decodeJsonString(Buffer.from('"a\\n"'), 1, 4, true); // 'a\n'
 * ```
 */
export function decodeJsonString(b: Buffer, start: number, end: number, escaped: boolean): string {
  if (!escaped) return b.toString('utf8', start, end);
  return JSON.parse(b.toString('utf8', start - 1, end + 1)) as string;
}
