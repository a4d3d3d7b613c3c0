import { gzipSync } from 'node:zlib';
import type { Delivery } from '../sink.ts';
import { authHeaders } from './auth.ts';
import { idempotencyKey, type EncodedRequest, type FormatSpec } from './formats.ts';
import type { WebhookConfig } from './options.ts';

/** One HTTP request, ready to post (and to post again, unchanged, on a retry). */
export interface WebhookRequest {
  readonly url: URL;
  readonly headers: Record<string, string>;
  /** The body in parts, sent one after the other (in one write); `headers` give its length. */
  readonly body: readonly Buffer[];
}

/**
 * Beyond this many parts a body is copied into one buffer: a few large slices are cheaper
 * to write as they are, many small ones (lines from separate reads) cheaper copied once.
 */
const MAX_PARTS = 16;

/**
 * Turns a group of records into the request that carries them: the format's body (gzipped
 * with `--webhook-gzip`), its content type and path, the Idempotency-Key of the records, the
 * configured headers and the authorization read from the secret files at that moment.
 *
 * @example
 * ```ts
 * const build = createRequestBuilder(config, formatSpec(config.format, ctx));
 * const { url, headers, body } = build(records);
 * ```
 */
export function createRequestBuilder(
  config: WebhookConfig,
  spec: FormatSpec,
): (records: readonly Delivery[]) => WebhookRequest {
  const auth = authHeaders(config);
  return (records) => {
    const encoded = spec.encode(records);
    let body = bodyParts(encoded.body);
    const headers: Record<string, string> = {
      'content-type': encoded.contentType,
      'idempotency-key': idempotencyKey(records),
      'user-agent': 'gk-export',
      ...auth(),
      ...encoded.extraHeaders,
    };
    if (config.gzip) {
      body = [gzipSync(body.length === 1 ? body[0]! : Buffer.concat(body))];
      headers['content-encoding'] = 'gzip';
    }
    let length = 0;
    for (const part of body) length += part.length;
    headers['content-length'] = String(length);
    return { url: withSuffix(config.url, encoded.pathSuffix), headers, body };
  };
}

function bodyParts(body: EncodedRequest['body']): readonly Buffer[] {
  if (typeof body === 'string') return [Buffer.from(body)];
  if (Buffer.isBuffer(body)) return [body];
  return body.length > MAX_PARTS ? [Buffer.concat(body)] : body;
}

/** The configured URL, or a copy with `suffix` appended to its path (OTLP: /v1/logs). */
function withSuffix(url: URL, suffix: string | undefined): URL {
  if (!suffix) return url;
  const u = new URL(url);
  u.pathname = u.pathname.replace(/\/+$/, '') + suffix;
  return u;
}
