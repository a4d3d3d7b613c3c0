import split2 from 'split2';
import { optimizingCompilers } from '../pipeline/optimizing-compilers.ts';

/** One line of stdin (1-based `n`), or the line that grew past the limit. */
export type StdinLine = { n: number; text: string; tooLong?: never } | { n: number; tooLong: true };

/**
 * The lines of `input`, numbered, holding at most `maxBytes` of an unfinished line: a line
 * over the limit is yielded as `{ tooLong: true }` and nothing after it is read, so a runaway
 * line (no newline, endless input) costs bounded memory. Leaving the loop early unpipes and
 * destroys `input`. An error of `input` itself is thrown.
 *
 * @example
 * ```ts
 * for await (const line of stdinLines(process.stdin, 2 * 1024 * 1024)) {
 *   if (line.tooLong) break;
 *   console.log(line.n, line.text);
 * }
 * ```
 */
export async function* stdinLines(
  input: NodeJS.ReadableStream & { destroy(): void },
  maxBytes: number,
): AsyncGenerator<StdinLine> {
  // split2 holds at most maxLength characters of an unfinished line (characters <= bytes),
  // then fails.
  let split = 0;
  const lines = split2((line: string) => ((split += 1), line), { maxLength: maxBytes });
  let inputError: unknown;
  const onError = (err: unknown) => lines.destroy((inputError = err) as Error);
  input.once('error', onError);
  input.pipe(lines);
  let n = 0;
  try {
    try {
      for await (const text of lines as AsyncIterable<string>) {
        n += 1;
        // split2 checks characters; the limit is in bytes.
        const bytes = Buffer.byteLength(text);
        optimizingCompilers.noteRead(bytes + 1);
        if (bytes > maxBytes) {
          yield { n, tooLong: true };
          return;
        }
        yield { n, text };
      }
    } catch (err) {
      if (inputError !== undefined) throw inputError;
      // split2's only failure here: the line after the last one it split is too long.
      void err;
      yield { n: split + 1, tooLong: true };
    }
  } finally {
    input.removeListener('error', onError);
    input.unpipe(lines);
    input.destroy();
  }
}
