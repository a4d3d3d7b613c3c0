import { InvalidArgumentError, Option } from 'commander';
import { hostname } from 'node:os';
import { boolOption } from '../../bool-option.ts';
import { parseByteSize } from '../../byte-size.ts';
import { parseDuration } from '../../duration.ts';
import { GkExportError } from '../../errors.ts';
import { optionParser } from '../../reader/options.ts';
import { WEBHOOK_FORMATS, type WebhookFormat } from './formats.ts';

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
  readonly onPermanentError: 'continue' | 'stop';
  readonly clusterName: string;
  readonly host: string;
}

function positiveInt(max: number) {
  return (v: string): number => {
    if (!/^\d+$/.test(v) || Number(v) < 1 || Number(v) > max) {
      throw new InvalidArgumentError(`use a whole number from 1 to ${max}`);
    }
    return Number(v);
  };
}

function header(v: string, prev: Record<string, string> | undefined): Record<string, string> {
  const eq = v.indexOf('=');
  if (eq <= 0) throw new InvalidArgumentError('use NAME=VALUE');
  return { ...(prev ?? {}), [v.slice(0, eq).trim()]: v.slice(eq + 1) };
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
  const env = (o: Option, name: string) => o.env(`GK_EXPORT_${name}`);
  return [
    env(new Option('--webhook-url <url>', 'receiver URL (http or https)'), 'WEBHOOK_URL'),
    env(
      new Option('--webhook-format <format>', `body format: ${WEBHOOK_FORMATS.join(', ')}`),
      'WEBHOOK_FORMAT',
    )
      .default('ndjson')
      .argParser((v) => {
        if (!(WEBHOOK_FORMATS as readonly string[]).includes(v)) {
          throw new InvalidArgumentError(`allowed: ${WEBHOOK_FORMATS.join(', ')}`);
        }
        return v;
      }),
    env(
      new Option('--webhook-batch-max-records <n>', 'records per request'),
      'WEBHOOK_BATCH_MAX_RECORDS',
    )
      .default(500)
      .argParser(positiveInt(100_000)),
    env(
      new Option('--webhook-batch-max-bytes <size>', 'body bytes per request'),
      'WEBHOOK_BATCH_MAX_BYTES',
    )
      .default(1024 * 1024, '1MiB')
      .argParser(optionParser(parseByteSize)),
    env(
      new Option(
        '--webhook-flush-interval <duration>',
        'longest a request that is not full waits for more records',
      ),
      'WEBHOOK_FLUSH_INTERVAL',
    )
      .default(1000, '1s')
      .argParser(optionParser(parseDuration)),
    env(
      new Option('--webhook-concurrency <n>', 'requests in flight at once (acknowledged in order)'),
      'WEBHOOK_CONCURRENCY',
    )
      .default(1)
      .argParser(positiveInt(64)),
    env(new Option('--webhook-timeout <duration>', 'per request'), 'WEBHOOK_TIMEOUT')
      .default(10_000, '10s')
      .argParser(optionParser(parseDuration)),
    boolOption('--webhook-gzip', 'gzip request bodies', {
      env: 'GK_EXPORT_WEBHOOK_GZIP',
      default: false,
    }),
    env(
      new Option('--webhook-max-backoff <duration>', 'cap of the retry backoff'),
      'WEBHOOK_MAX_BACKOFF',
    )
      .default(30_000, '30s')
      .argParser(optionParser(parseDuration)),
    env(
      new Option('--webhook-max-retries <n>', 'retries per request (0 = unlimited)'),
      'WEBHOOK_MAX_RETRIES',
    )
      .default(0)
      .argParser((v) => {
        if (!/^\d+$/.test(v)) throw new InvalidArgumentError('use a whole number (0 = unlimited)');
        return Number(v);
      }),
    env(
      new Option('--webhook-header <name=value>', 'extra request header (repeatable)'),
      'WEBHOOK_HEADER',
    ).argParser(header),
    env(
      new Option('--webhook-token-file <path>', 'bearer token file (re-read when it changes)'),
      'WEBHOOK_TOKEN_FILE',
    ),
    env(
      new Option('--webhook-basic-auth-file <path>', 'file with user:password'),
      'WEBHOOK_BASIC_AUTH_FILE',
    ),
    env(
      new Option('--webhook-ca-file <path>', 'CA bundle to verify the receiver'),
      'WEBHOOK_CA_FILE',
    ),
    env(new Option('--webhook-cert-file <path>', 'client certificate (mTLS)'), 'WEBHOOK_CERT_FILE'),
    env(new Option('--webhook-key-file <path>', 'client key (mTLS)'), 'WEBHOOK_KEY_FILE'),
    // A bare switch would be on for any value of its variable, `false` included.
    boolOption(
      '--webhook-insecure-skip-verify',
      'do not verify the receiver certificate (unsafe)',
      { env: 'GK_EXPORT_WEBHOOK_INSECURE_SKIP_VERIFY', default: false },
    ),
    env(
      new Option('--on-permanent-error <action>', 'continue (dead-letter and go on) or stop'),
      'ON_PERMANENT_ERROR',
    )
      .default('continue')
      .argParser((v) => {
        if (v !== 'continue' && v !== 'stop')
          throw new InvalidArgumentError('allowed: continue, stop');
        return v;
      }),
    env(
      new Option('--cluster-name <name>', 'cluster name in CloudEvents sources and OTLP resources'),
      'CLUSTER_NAME',
    ).default('default'),
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
  return {
    url,
    format: (o.webhookFormat as WebhookFormat | undefined) ?? 'ndjson',
    batchMaxRecords: Number(o.webhookBatchMaxRecords ?? 500),
    batchMaxBytes: Number(o.webhookBatchMaxBytes ?? 1024 * 1024),
    flushIntervalMs: Number(o.webhookFlushInterval ?? 1000),
    concurrency: Number(o.webhookConcurrency ?? 1),
    timeoutMs: Number(o.webhookTimeout ?? 10_000),
    gzip: o.webhookGzip === true,
    maxBackoffMs: Number(o.webhookMaxBackoff ?? 30_000),
    maxRetries: Number(o.webhookMaxRetries ?? 0),
    headers: (o.webhookHeader as Record<string, string> | undefined) ?? {},
    tokenFile: str(o.webhookTokenFile),
    basicAuthFile: str(o.webhookBasicAuthFile),
    caFile: str(o.webhookCaFile),
    certFile: str(o.webhookCertFile),
    keyFile: str(o.webhookKeyFile),
    insecureSkipVerify: o.webhookInsecureSkipVerify === true,
    onPermanentError: o.onPermanentError === 'stop' ? 'stop' : 'continue',
    clusterName: String(o.clusterName ?? 'default'),
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
