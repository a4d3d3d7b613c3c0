/**
 * A reproducible corpus of a JSON line with random edits (a character deleted, inserted or
 * replaced from `alphabet`), for checking a parser against a reference.
 *
 * @example
 * ```ts
 * for (const line of mutatedLines('{"a":1}', 100, { seed: 1, alphabet: '{}":,' })) check(line);
 * ```
 */
export function mutatedLines(
  base: string,
  count: number,
  opts: { seed: number; alphabet: string; edits?: (k: number) => number },
): string[] {
  let seed = opts.seed;
  const rand = () => (seed = (seed * 48271) % 2147483647) / 2147483647;
  const { alphabet } = opts;
  const lines: string[] = [];
  for (let k = 0; k < count; k++) {
    const chars = [...base];
    const edits = opts.edits?.(k) ?? 1;
    for (let m = 0; m < edits; m++) {
      const pos = Math.floor(rand() * chars.length);
      const op = rand();
      const c = alphabet[Math.floor(rand() * alphabet.length)]!;
      if (op < 0.33) chars.splice(pos, 1);
      else if (op < 0.66) chars.splice(pos, 0, c);
      else chars[pos] = c;
    }
    lines.push(chars.join(''));
  }
  return lines;
}
