import { readFileSync, statSync } from 'node:fs';
import type { WebhookConfig } from './options.ts';

/**
 * Reads a secret file and re-reads it whenever its mtime or size changes (a mounted
 * Kubernetes Secret is updated by an atomic symlink swap, which changes both).
 */
export function watchedSecret(path: string) {
  let stamp = '';
  let value = '';
  return (): string => {
    const st = statSync(path);
    const now = `${st.mtimeMs}:${st.size}:${st.ino}`;
    if (now !== stamp) {
      value = readFileSync(path, 'utf8').trim();
      stamp = now;
    }
    return value;
  };
}

/**
 * The headers every request carries: configured ones, then authorization from the token
 * file (`Bearer`, or `Splunk` for HEC) or the basic-auth file. Values are never logged.
 *
 * @example
 * ```ts
 * const headers = authHeaders(config); headers(); // { authorization: 'Bearer …' }
 * ```
 */
export function authHeaders(config: WebhookConfig): () => Record<string, string> {
  const token = config.tokenFile ? watchedSecret(config.tokenFile) : undefined;
  const basic = config.basicAuthFile ? watchedSecret(config.basicAuthFile) : undefined;
  const scheme = config.format === 'splunk-hec' ? 'Splunk' : 'Bearer';
  return () => {
    const h: Record<string, string> = { ...config.headers };
    if (token) h.authorization = `${scheme} ${token()}`;
    else if (basic) h.authorization = `Basic ${Buffer.from(basic()).toString('base64')}`;
    return h;
  };
}
