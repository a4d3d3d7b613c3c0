import { Option } from 'commander';
import { hostname } from 'node:os';
import { formatByteSize, parseByteSize } from '../../config/byte-size.ts';
import { boolOption, optionParser, setting } from '../../config/commander.ts';
import { DEFAULTS } from '../../config/defaults.ts';
import { formatDuration, parseDuration } from '../../config/duration.ts';
import { integer, oneOf, parseKeyValue } from '../../config/parsers.ts';
import { GkExportError } from '../../errors.ts';
import { WEBHOOK_FORMATS, type WebhookFormat } from './formats.ts';

/** What the sink does with a batch the receiver refuses for good. */
export const ON_PERMANENT_ERROR = ['continue', 'stop'] as const;

/** Resolved webhook sink configuration. */
export interface WebhookConfig {
  readonly url: URL;
  readonly format: WebhookFormat;
  readonly batchMaxRecords: number;
  readonly batchMaxBytes: number;
  /** How long a request that is not full may wait for more records. */
  readonly flushIntervalMs: number;
  /** Requests in flight at once (acknowledged in order). */
  readonly concurrency: number;
  readonly timeoutMs: number;
  readonly gzip: boolean;
  readonly maxBackoffMs: number;
  /** Attempts per request before it counts as failed for good; 0 = unlimited. */
  readonly maxRetries: number;
  readonly headers: Record<string, string>;
  readonly tokenFile?: string;
  readonly basicAuthFile?: string;
  readonly caFile?: string;
  readonly certFile?: string;
  readonly keyFile?: string;
  readonly insecureSkipVerify: boolean;
  readonly onPermanentError: (typeof ON_PERMANENT_ERROR)[number];
  readonly clusterName: string;
  readonly host: string;
}

function header(v: string, prev: Record<string, string> | undefined): Record<string, string> {
  const [name, value] = optionParser(parseKeyValue)(v);
  return { ...(prev ?? {}), [name]: value };
}

/**
 * The webhook sink's command-line options, each with its environment variable.
 *
 * @example
 * ```ts
 * for (const o of webhookOptions()) command.addOption(o);
 * ```
 */
export function webhookOptions(): Option[] {
  const d = DEFAULTS.webhook;
  const env = (name: string) => `GK_EXPORT_${name}`;
  return [
    setting('--webhook-url <url>', 'receiver URL (http or https)', { env: env('WEBHOOK_URL') }),
    setting('--webhook-format <format>', `body format: ${WEBHOOK_FORMATS.join(', ')}`, {
      env: env('WEBHOOK_FORMAT'),
      parse: oneOf(WEBHOOK_FORMATS),
      default: d.format,
    }),
    setting('--webhook-batch-max-records <n>', 'records per request', {
      env: env('WEBHOOK_BATCH_MAX_RECORDS'),
      parse: integer(1, 100_000),
      default: d.batchMaxRecords,
    }),
    setting('--webhook-batch-max-bytes <size>', 'body bytes per request', {
      env: env('WEBHOOK_BATCH_MAX_BYTES'),
      parse: parseByteSize,
      default: d.batchMaxBytes,
      show: formatByteSize,
    }),
    setting(
      '--webhook-flush-interval <duration>',
      'longest a request that is not full waits for more records',
      {
        env: env('WEBHOOK_FLUSH_INTERVAL'),
        parse: parseDuration,
        default: d.flushIntervalMs,
        show: formatDuration,
      },
    ),
    setting('--webhook-concurrency <n>', 'requests in flight at once (acknowledged in order)', {
      env: env('WEBHOOK_CONCURRENCY'),
      parse: integer(1, 64),
      default: d.concurrency,
    }),
    setting('--webhook-timeout <duration>', 'per request', {
      env: env('WEBHOOK_TIMEOUT'),
      parse: parseDuration,
      default: d.timeoutMs,
      show: formatDuration,
    }),
    boolOption('--webhook-gzip', 'gzip request bodies', {
      env: env('WEBHOOK_GZIP'),
      default: d.gzip,
    }),
    setting('--webhook-max-backoff <duration>', 'cap of the retry backoff', {
      env: env('WEBHOOK_MAX_BACKOFF'),
      parse: parseDuration,
      default: d.maxBackoffMs,
      show: formatDuration,
    }),
    setting('--webhook-max-retries <n>', 'retries per request (0 = unlimited)', {
      env: env('WEBHOOK_MAX_RETRIES'),
      parse: integer(0, undefined, '0 = unlimited'),
      default: d.maxRetries,
    }),
    new Option('--webhook-header <name=value>', 'extra request header (repeatable)')
      .env(env('WEBHOOK_HEADER'))
      .argParser(header),
    setting('--webhook-token-file <path>', 'bearer token file (re-read when it changes)', {
      env: env('WEBHOOK_TOKEN_FILE'),
    }),
    setting('--webhook-basic-auth-file <path>', 'file with user:password', {
      env: env('WEBHOOK_BASIC_AUTH_FILE'),
    }),
    setting('--webhook-ca-file <path>', 'CA bundle to verify the receiver', {
      env: env('WEBHOOK_CA_FILE'),
    }),
    setting('--webhook-cert-file <path>', 'client certificate (mTLS)', {
      env: env('WEBHOOK_CERT_FILE'),
    }),
    setting('--webhook-key-file <path>', 'client key (mTLS)', { env: env('WEBHOOK_KEY_FILE') }),
    // A bare switch would be on for any value of its variable, `false` included.
    boolOption(
      '--webhook-insecure-skip-verify',
      'do not verify the receiver certificate (unsafe)',
      { env: env('WEBHOOK_INSECURE_SKIP_VERIFY'), default: d.insecureSkipVerify },
    ),
    setting('--on-permanent-error <action>', 'continue (dead-letter and go on) or stop', {
      env: env('ON_PERMANENT_ERROR'),
      parse: oneOf(ON_PERMANENT_ERROR),
      default: d.onPermanentError,
    }),
    setting('--cluster-name <name>', 'cluster name in CloudEvents sources and OTLP resources', {
      env: env('CLUSTER_NAME'),
      default: d.clusterName,
    }),
  ];
}

/**
 * Checks the webhook options; throws ERR_INVALID_CONFIG naming the setting.
 *
 * @example
 * ```ts
 * const cfg = resolveWebhookConfig(command.opts());
 * ```
 */
export function resolveWebhookConfig(o: Record<string, unknown>): WebhookConfig {
  const bad = (msg: string) => new GkExportError('ERR_INVALID_CONFIG', msg);
  const raw = o.webhookUrl;
  if (typeof raw !== 'string' || raw === '') {
    throw bad(
      '--sink webhook needs --webhook-url (GK_EXPORT_WEBHOOK_URL): the receiver, http:// or https://',
    );
  }
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw bad(
      `--webhook-url ${redactUrl(raw)} is not a URL: use http://host[:port]/path or https://…`,
    );
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw bad(`--webhook-url scheme ${url.protocol} is not allowed: use http or https`);
  }
  if ((o.webhookCertFile === undefined) !== (o.webhookKeyFile === undefined)) {
    throw bad('--webhook-cert-file and --webhook-key-file go together (mTLS)');
  }
  const str = (v: unknown) => (typeof v === 'string' && v !== '' ? v : undefined);
  const d = DEFAULTS.webhook;
  const num = (v: unknown, dflt: number) => Number(v ?? dflt);
  const bool = (v: unknown, dflt: boolean) => (typeof v === 'boolean' ? v : dflt);
  return {
    url,
    format: (o.webhookFormat as WebhookFormat | undefined) ?? d.format,
    batchMaxRecords: num(o.webhookBatchMaxRecords, d.batchMaxRecords),
    batchMaxBytes: num(o.webhookBatchMaxBytes, d.batchMaxBytes),
    flushIntervalMs: num(o.webhookFlushInterval, d.flushIntervalMs),
    concurrency: num(o.webhookConcurrency, d.concurrency),
    timeoutMs: num(o.webhookTimeout, d.timeoutMs),
    gzip: bool(o.webhookGzip, d.gzip),
    maxBackoffMs: num(o.webhookMaxBackoff, d.maxBackoffMs),
    maxRetries: num(o.webhookMaxRetries, d.maxRetries),
    headers: (o.webhookHeader as Record<string, string> | undefined) ?? {},
    tokenFile: str(o.webhookTokenFile),
    basicAuthFile: str(o.webhookBasicAuthFile),
    caFile: str(o.webhookCaFile),
    certFile: str(o.webhookCertFile),
    keyFile: str(o.webhookKeyFile),
    insecureSkipVerify: bool(o.webhookInsecureSkipVerify, d.insecureSkipVerify),
    onPermanentError:
      (o.onPermanentError as WebhookConfig['onPermanentError'] | undefined) ?? d.onPermanentError,
    clusterName: String(o.clusterName ?? d.clusterName),
    host: process.env.POD_NAME ?? hostname(),
  };
}

/** A URL safe to log: user and password replaced. */
export function redactUrl(raw: string | URL): string {
  try {
    const u = new URL(String(raw));
    if (u.username) u.username = 'REDACTED';
    if (u.password) u.password = 'REDACTED';
    return u.toString();
  } catch {
    return '<unparseable URL>';
  }
}
