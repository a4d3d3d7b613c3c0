import { GkExportError } from '../errors.ts';
import { createDeadLetter } from '../dead-letter.ts';
import type { MaxLag } from '../reader/lanes/coordinator.ts';
import type { LaneSink, LaneSpec } from '../reader/lanes/lane.ts';
import type { FilterConfig } from '../reader/filters.ts';
import type { ReaderConfig, StdoutFormat } from '../reader/options.ts';
import { gatekeeperLogFormat } from '../sinks/gatekeeper-log-format.ts';
import { resolveOpenReportsConfig, type OpenReportsConfig } from '../sinks/openreports/options.ts';
import { createStdoutSink, rawFormat } from '../sinks/stdout.ts';
import { redactUrl, resolveWebhookConfig, type WebhookConfig } from '../sinks/webhook/options.ts';
import type { Telemetry } from '../telemetry/index.ts';

/** Sink types `read` knows. */
export const SINK_TYPES = ['stdout', 'webhook', 'openreports'] as const;
export type SinkType = (typeof SINK_TYPES)[number];

/** What every sink has: a name, a route, and how it takes changes and lag. */
interface SinkCommon {
  readonly name: string;
  /** Records this sink gets (empty lists: all) and the fields it never sees. */
  readonly route?: FilterConfig;
  /** Audit runs: only what changed (record sinks only). */
  readonly changesOnly: boolean;
  readonly maxLag?: MaxLag;
}

/** One configured sink, from the flags or from the config file, resolved. */
export type SinkSpec =
  | (SinkCommon & {
      readonly type: 'stdout';
      readonly format: StdoutFormat;
      readonly includeMarkers: boolean;
    })
  | (SinkCommon & { readonly type: 'webhook'; readonly webhook: WebhookConfig })
  | (SinkCommon & { readonly type: 'openreports'; readonly openreports: OpenReportsConfig });

/**
 * The sinks of the command line: one per `--sink` (default stdout), named after its type, with
 * the `--webhook-*` and `--openreports-*` settings and no route of its own (the reader-wide
 * filters apply to all).
 *
 * @example
 * ```ts
 * const specs = sinksFromFlags(['stdout', 'webhook'], opts, config);
 * ```
 */
export function sinksFromFlags(
  types: readonly SinkType[],
  opts: Record<string, unknown>,
  config: ReaderConfig,
): SinkSpec[] {
  const changesOnly = opts.changesOnly === true;
  if (changesOnly && types.every((t) => t === 'openreports')) {
    // It would change nothing: refused rather than silently ignored.
    throw new GkExportError(
      'ERR_INVALID_SETTING',
      '--changes-only is for record sinks (stdout, webhook); OpenReports always takes whole runs',
    );
  }
  return types.map((type): SinkSpec => {
    if (type === 'webhook') {
      return { name: type, type, changesOnly, webhook: resolveWebhookConfig(opts) };
    }
    if (type === 'openreports') {
      return { name: type, type, changesOnly: false, openreports: resolveOpenReportsConfig(opts) };
    }
    return {
      name: type,
      type,
      changesOnly,
      format: config.format,
      includeMarkers: config.includeMarkers,
    };
  });
}

/**
 * One lane per sink: how to open it (each loaded only when configured; `changesOnly` wraps a
 * record sink with its own state), its route and its `maxLag`.
 *
 * @example
 * ```ts
 * await runReader(config, { lanes: lanesOf(specs, { stateDir, telemetry }), telemetry }, signal);
 * ```
 */
export function lanesOf(
  specs: readonly SinkSpec[],
  ctx: { stateDir: string; telemetry: Telemetry; opened?: Set<LaneSink> },
): LaneSpec[] {
  const { telemetry, stateDir } = ctx;
  const track = (s: LaneSink): LaneSink => {
    ctx.opened?.add(s);
    // Released by close(): only the sinks of the lanes running now stay in the set.
    const close = s.close.bind(s);
    return Object.assign(s, {
      close: () => close().finally(() => ctx.opened?.delete(s)),
    });
  };
  return specs.map((spec) => ({
    name: spec.name,
    route: spec.route,
    maxLag: spec.maxLag,
    open: async (): Promise<LaneSink> => track(await open(spec)),
  }));

  async function open(spec: SinkSpec): Promise<LaneSink> {
    const deadLetter = createDeadLetter(stateDir, { telemetry });
    let sink: LaneSink;
    if (spec.type === 'openreports') {
      const { createOpenReportsSink } = await import('../sinks/openreports/openreports-sink.ts');
      return createOpenReportsSink(spec.openreports, {
        telemetry,
        deadLetter,
        stateDir,
        name: spec.name,
      });
    } else if (spec.type === 'webhook') {
      // Loaded only when configured: the HTTP(S) client is resident memory.
      const { createWebhookSink } = await import('../sinks/webhook/webhook-sink.ts');
      sink = createWebhookSink(spec.webhook, { telemetry, deadLetter, name: spec.name });
    } else {
      sink = createStdoutSink({
        name: spec.name,
        metrics: telemetry.metrics,
        format:
          spec.format === 'gatekeeper-log'
            ? gatekeeperLogFormat()
            : rawFormat({ includeMarkers: spec.includeMarkers }),
      });
    }
    if (!spec.changesOnly) return sink;
    const { withChangesOnly } = await import('../sinks/changes-only/changes-only.ts');
    return withChangesOnly(sink, { stateDir, scope: spec.name, telemetry });
  }
}

/**
 * A sink as `--check-config` prints it: credentials in the URL and header values redacted
 * (the token, password and key files are paths, printed as they are).
 *
 * @example
 * ```ts
 * JSON.stringify(specs.map(shownSink));
 * ```
 */
export function shownSink(spec: SinkSpec): Record<string, unknown> {
  if (spec.type !== 'webhook') return { ...spec };
  return { ...spec, webhook: shownWebhook(spec.webhook) };
}

/** The webhook settings with the URL's credentials and every header value redacted. */
export function shownWebhook(w: WebhookConfig): Record<string, unknown> {
  return {
    ...w,
    url: redactUrl(w.url),
    headers: Object.fromEntries(Object.keys(w.headers).map((k) => [k, 'REDACTED'])),
  };
}
