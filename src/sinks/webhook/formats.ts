import { isRawJsonNumber } from '../../protocol/json-numbers.ts';
import type { Delivery } from '../sink.ts';
import { jsonArrayBytes, lineBytes, ndjsonParts } from '../line-bytes.ts';

/** Body formats the webhook sink speaks. */
export const WEBHOOK_FORMATS = [
  'ndjson',
  'json',
  'cloudevents',
  'cloudevents-batch',
  'otlp',
  'splunk-hec',
  'dapr',
] as const;
export type WebhookFormat = (typeof WEBHOOK_FORMATS)[number];

/** One HTTP request body for a group of records. */
export interface EncodedRequest {
  /**
   * Text, or bytes to send one after the other: the formats that carry the original lines
   * (ndjson, json, dapr) take them from the bytes read, never decoding and re-encoding them.
   */
  readonly body: string | Buffer | readonly Buffer[];
  readonly contentType: string;
  /** Path appended to the configured URL (OTLP: /v1/logs). */
  readonly pathSuffix?: string;
  readonly extraHeaders?: Record<string, string>;
}

/** How a format packs records into requests. */
export interface FormatSpec {
  /** Records per request at most (1 for formats that carry one event per request). */
  readonly perRequest: number | undefined;
  /** Whether the run markers are forwarded (only Gatekeeper's Dapr driver publishes them). */
  readonly markers: boolean;
  /** Status codes that are worth retrying (beside connection errors and timeouts). */
  readonly retryable: (status: number) => boolean;
  encode(records: readonly Delivery[]): EncodedRequest;
}

export interface FormatContext {
  readonly clusterName: string;
  readonly host: string;
}

const defaultRetryable = (s: number) => s === 408 || s === 429 || s >= 500;

/** `[group/]version/Kind/[namespace/]name` of the violating resource. */
function subjectOf(d: Delivery): string {
  const m = d.msg;
  const parts = [
    m.resourceGroup,
    m.resourceAPIVersion,
    m.resourceKind,
    m.resourceNamespace,
    m.resourceName,
  ];
  return parts.filter((p) => p !== undefined && p !== '').join('/');
}

function cloudEvent(d: Delivery, ctx: FormatContext) {
  const m = d.msg;
  const admission = m.eventType === 'violation_admission';
  // --changes-only sends a violation that is gone as the previous record, eventType resolved.
  const audit = m.eventType === 'violation_resolved' ? 'resolved' : 'audited';
  return {
    specversion: '1.0',
    id: d.key,
    type: `sh.gatekeeper.violation.${admission ? 'admission' : audit}`,
    source: `/clusters/${ctx.clusterName}/gatekeeper/${admission ? 'admission' : 'audit'}`,
    subject: subjectOf(d),
    time:
      m.timestamp ??
      (m.id && !Number.isNaN(Date.parse(m.id)) ? new Date(m.id).toISOString() : undefined),
    datacontenttype: 'application/json',
    constraintkind: m.kind ?? '',
    constraintname: m.name ?? '',
    enforcementaction: m.enforcementAction ?? '',
    resourcenamespace: m.resourceNamespace ?? '',
    auditid: m.id ?? '',
    data: m,
  };
}

function severity(action: string | undefined): { number: number; text: string } {
  if (action === 'deny' || action === 'warn') return { number: 13, text: 'WARN' };
  return { number: 9, text: 'INFO' };
}

/** A JSON value as an OTLP AnyValue. */
function anyValue(v: unknown): Record<string, unknown> {
  if (typeof v === 'string') return { stringValue: v };
  if (isRawJsonNumber(v)) {
    // A number a float64 cannot hold: an int64 stays exact as intValue, else its text is kept.
    const t = v.rawJSON;
    return /^-?\d+$/.test(t) && BigInt(t) >= -(2n ** 63n) && BigInt(t) < 2n ** 63n
      ? { intValue: t }
      : { stringValue: t };
  }
  if (typeof v === 'boolean') return { boolValue: v };
  if (typeof v === 'number')
    return Number.isInteger(v) ? { intValue: String(v) } : { doubleValue: v };
  if (Array.isArray(v)) return { arrayValue: { values: v.map(anyValue) } };
  if (v && typeof v === 'object') {
    return {
      kvlistValue: {
        values: Object.entries(v).map(([key, value]) => ({ key, value: anyValue(value) })),
      },
    };
  }
  return {};
}

function otlpRecord(d: Delivery) {
  const m = d.msg;
  const t = Date.parse(m.timestamp ?? m.id ?? '');
  const sev = severity(m.enforcementAction);
  const attr = (key: string, value: unknown) =>
    value === undefined || value === '' ? [] : [{ key, value: anyValue(value) }];
  return {
    timeUnixNano: Number.isFinite(t) ? `${BigInt(t) * 1_000_000n}` : '0',
    observedTimeUnixNano: `${BigInt(Date.now()) * 1_000_000n}`,
    severityNumber: sev.number,
    severityText: sev.text,
    body: { stringValue: m.message ?? '' },
    attributes: [
      ...attr('k8s.namespace.name', m.resourceNamespace),
      ...attr(`k8s.${(m.resourceKind ?? 'resource').toLowerCase()}.name`, m.resourceName),
      ...attr('gatekeeper.constraint.kind', m.kind),
      ...attr('gatekeeper.constraint.name', m.name),
      ...attr('gatekeeper.enforcement_action', m.enforcementAction),
      ...attr('gatekeeper.details', m.details),
      ...attr('gatekeeper.audit_id', m.id),
      ...attr('gatekeeper.record_id', d.key),
    ],
  };
}

/**
 * The format table.
 *
 * @example
 * ```ts
 * const spec = formatSpec('ndjson', { clusterName: 'prod', host: 'audit-0' });
 * spec.encode(records).body;
 * ```
 */
export function formatSpec(format: WebhookFormat, ctx: FormatContext): FormatSpec {
  switch (format) {
    case 'ndjson':
      return {
        perRequest: undefined,
        markers: false,
        retryable: defaultRetryable,
        // The original lines, byte for byte, each followed by \n.
        encode: (rs) => ({ body: ndjsonParts(rs), contentType: 'application/x-ndjson' }),
      };
    case 'json':
      return {
        perRequest: undefined,
        markers: false,
        retryable: defaultRetryable,
        encode: (rs) => ({ body: jsonArrayBytes(rs), contentType: 'application/json' }),
      };
    case 'cloudevents':
      return {
        perRequest: 1,
        markers: false,
        retryable: defaultRetryable,
        encode: (rs) => ({
          body: JSON.stringify(cloudEvent(rs[0]!, ctx)),
          contentType: 'application/cloudevents+json',
        }),
      };
    case 'cloudevents-batch':
      return {
        perRequest: undefined,
        markers: false,
        retryable: defaultRetryable,
        encode: (rs) => ({
          body: JSON.stringify(rs.map((d) => cloudEvent(d, ctx))),
          contentType: 'application/cloudevents-batch+json',
        }),
      };
    case 'otlp':
      return {
        perRequest: undefined,
        markers: false,
        // OTLP/HTTP: only these are retryable; other errors are final.
        retryable: (s) => s === 429 || s === 502 || s === 503 || s === 504,
        encode: (rs) => ({
          pathSuffix: '/v1/logs',
          contentType: 'application/json',
          body: JSON.stringify({
            resourceLogs: [
              {
                resource: {
                  attributes: [
                    { key: 'service.name', value: { stringValue: 'gatekeeper' } },
                    { key: 'k8s.cluster.name', value: { stringValue: ctx.clusterName } },
                  ],
                },
                scopeLogs: [{ scope: { name: 'gk-export' }, logRecords: rs.map(otlpRecord) }],
              },
            ],
          }),
        }),
      };
    case 'splunk-hec':
      return {
        perRequest: undefined,
        markers: false,
        retryable: defaultRetryable,
        encode: (rs) => ({
          contentType: 'application/json',
          body: rs
            .map((d) => {
              const t = Date.parse(d.msg.timestamp ?? d.msg.id ?? '');
              return JSON.stringify({
                time: Number.isFinite(t) ? t / 1000 : Date.now() / 1000,
                host: ctx.host,
                source: `gatekeeper:${d.channel}`,
                sourcetype: 'gatekeeper:violation',
                fields: {
                  cluster: ctx.clusterName,
                  constraint_kind: d.msg.kind ?? '',
                  constraint_name: d.msg.name ?? '',
                  enforcement_action: d.msg.enforcementAction ?? '',
                  record_id: d.key,
                },
                event: d.msg,
              });
            })
            .join(''),
        }),
      };
    case 'dapr':
      return {
        perRequest: 1,
        markers: true,
        retryable: defaultRetryable,
        // Gatekeeper's Dapr driver publishes each message's JSON as the raw payload.
        encode: (rs) => ({ body: lineBytes(rs[0]!), contentType: 'text/plain' }),
      };
  }
}

/**
 * The Idempotency-Key of a request: the same records always give the same key, across
 * retries and restarts, so a receiver can drop repeats.
 */
export function idempotencyKey(records: readonly Delivery[]): string {
  const first = records[0]?.key ?? '';
  const last = records[records.length - 1]?.key ?? '';
  // node:crypto taken on first use: `read` imports this module for its options, and a reader
  // without a webhook sink would otherwise load crypto for nothing.
  return process
    .getBuiltinModule('node:crypto')
    .createHash('sha256')
    .update(`${first}\n${last}\n${records.length}`)
    .digest('hex')
    .slice(0, 32);
}
