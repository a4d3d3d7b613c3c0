import { GkExportError, type WebhookErrorCode } from '../../errors.ts';

/**
 * The error of a request the webhook sink stopped working on at shutdown (`interrupt()` or
 * `giveUp()`): its records are not acknowledged, so a restart delivers them again.
 *
 * @example
 * ```ts
 * req.reject(interruptedError('stopped before the request was sent'));
 * ```
 */
export function interruptedError(message: string): GkExportError<WebhookErrorCode> {
  return new GkExportError<WebhookErrorCode>('ERR_SINK_INTERRUPTED', message);
}
