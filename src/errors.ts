/**
 * One base class for every error gk-export throws. Each error carries a stable, literal
 * `code` (tests and callers branch on it, never on the message) and an optional `cause`.
 *
 * @example
 * ```ts
 * throw new GkExportError('ERR_INVALID_NAME', 'channel "a/b" contains "/"');
 * ```
 */
export class GkExportError<C extends string = string> extends Error {
  override readonly name = 'GkExportError';
  readonly code: C;

  constructor(code: C, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
  }
}

/**
 * True when `err` is a GkExportError, optionally with the given code.
 *
 * @example
 * ```ts
 * if (isGkExportError(err, 'ERR_LOCK_HELD')) retry();
 * ```
 */
export function isGkExportError<C extends string>(err: unknown, code?: C): err is GkExportError<C> {
  return err instanceof GkExportError && (code === undefined || err.code === code);
}

/** The `errno` code of a Node system error (`ENOENT`, `EACCES` …), or undefined. */
export function errnoCode(err: unknown): string | undefined {
  if (typeof err === 'object' && err !== null && 'code' in err) {
    const code = (err as { code: unknown }).code;
    return typeof code === 'string' ? code : undefined;
  }
  return undefined;
}
