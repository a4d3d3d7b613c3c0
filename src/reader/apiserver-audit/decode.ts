import type { ExportMsg } from '../../protocol/record.ts';

/** Why an audit-log line produced no record (bounded: the `reason` label). */
export type SkipReason = 'not_an_audit_event' | 'no_response' | 'not_denied' | 'other_webhook';

/** The result of decoding one audit-log line. */
export type AuditDecode =
  { readonly records: ExportMsg[] } | { readonly skip: SkipReason } | { readonly invalid: string };

interface AuditEvent {
  kind?: unknown;
  apiVersion?: unknown;
  auditID?: string;
  verb?: string;
  requestURI?: string;
  userAgent?: string;
  sourceIPs?: string[];
  user?: { username?: string; uid?: string; groups?: string[] };
  objectRef?: {
    resource?: string;
    namespace?: string;
    name?: string;
    apiGroup?: string;
    apiVersion?: string;
  };
  responseStatus?: { code?: number; message?: string };
  requestReceivedTimestamp?: string;
}

const OPERATIONS: Record<string, string> = {
  create: 'CREATE',
  update: 'UPDATE',
  patch: 'UPDATE',
  delete: 'DELETE',
  deletecollection: 'DELETE',
  connect: 'CONNECT',
};

/** `[constraint] message` parts of a Gatekeeper denial (one per violated constraint). */
export function denialParts(text: string): { name: string; message: string }[] {
  const out: { name: string; message: string }[] = [];
  // Constraint names are DNS subdomains; other brackets (e.g. <["group"]>) are message text.
  const re = /\[([a-z0-9](?:[-a-z0-9.]*[a-z0-9])?)\]\s*/g;
  const starts: { name: string; at: number; end: number }[] = [];
  for (let m = re.exec(text); m; m = re.exec(text))
    starts.push({ name: m[1]!, at: m.index, end: re.lastIndex });
  starts.forEach((s, i) => {
    const next = starts[i + 1]?.at ?? text.length;
    out.push({ name: s.name, message: text.slice(s.end, next).trim() });
  });
  return out;
}

/** A kind named in a Gatekeeper message as `<Kind/name>`, if any. */
function kindFromText(message: string, name: string | undefined): string | undefined {
  for (const m of message.matchAll(/<([A-Z][A-Za-z0-9]*)\/([^>]+)>/g)) {
    if (!name || m[2] === name) return m[1];
  }
  return undefined;
}

/** `projects` → `Project`, `networkpolicies` → `Networkpolicy`: a best effort when the text names no kind. */
function kindFromResource(resource: string | undefined): string | undefined {
  if (!resource) return undefined;
  const singular = resource.endsWith('ies')
    ? resource.slice(0, -3) + 'y'
    : resource.endsWith('ses')
      ? resource.slice(0, -2)
      : resource.endsWith('s')
        ? resource.slice(0, -1)
        : resource;
  return singular.charAt(0).toUpperCase() + singular.slice(1);
}

/**
 * Turns one API-server audit-log line (`audit.k8s.io/v1` Event) into the Gatekeeper
 * admission decisions it records: a 403 whose message says `admission webhook
 * "<webhook>" denied the request:` becomes one `violation_admission` record per
 * `[constraint] message` part. Other lines are skipped with a reason.
 *
 * @example
 * ```ts
 * const r = decodeAuditEvent(line, 'validation.gatekeeper.sh');
 * if ('records' in r) for (const rec of r.records) …
 * ```
 */
export function decodeAuditEvent(text: string, webhookName: string): AuditDecode {
  let ev: AuditEvent;
  try {
    ev = JSON.parse(text) as AuditEvent;
  } catch (err) {
    return { invalid: `not JSON: ${(err as Error).message}` };
  }
  if (typeof ev !== 'object' || ev === null || Array.isArray(ev))
    return { invalid: 'not a JSON object' };
  if (
    ev.kind !== 'Event' ||
    typeof ev.apiVersion !== 'string' ||
    !ev.apiVersion.startsWith('audit.k8s.io/')
  ) {
    return { skip: 'not_an_audit_event' };
  }
  const status = ev.responseStatus;
  if (!status || typeof status !== 'object') return { skip: 'no_response' };
  const message = typeof status.message === 'string' ? status.message : '';
  if (status.code !== 403) return { skip: 'not_denied' };
  const marker = `admission webhook "${webhookName}" denied the request:`;
  const at = message.indexOf(marker);
  if (at < 0)
    return { skip: message.includes('admission webhook "') ? 'other_webhook' : 'not_denied' };
  const parts = denialParts(message.slice(at + marker.length));
  if (parts.length === 0) return { skip: 'not_denied' };
  const ref = ev.objectRef ?? {};
  const user = ev.user ?? {};
  let dryRun = false;
  try {
    dryRun = new URL(ev.requestURI ?? '/', 'https://x').searchParams.get('dryRun') === 'All';
  } catch {
    dryRun = false;
  }
  return {
    records: parts.map((p) => ({
      id: ev.requestReceivedTimestamp,
      details: {
        request: {
          auditID: ev.auditID,
          sourceIPs: ev.sourceIPs ?? [],
          userAgent: ev.userAgent ?? '',
        },
      },
      eventType: 'violation_admission',
      name: p.name,
      message: p.message,
      enforcementAction: 'deny',
      resourceGroup: ref.apiGroup ?? '',
      resourceAPIVersion: ref.apiVersion ?? '',
      resourceKind: kindFromText(p.message, ref.name) ?? kindFromResource(ref.resource) ?? '',
      resourceNamespace: ref.namespace ?? '',
      resourceName: ref.name ?? '',
      timestamp: ev.requestReceivedTimestamp,
      operation: OPERATIONS[ev.verb ?? ''] ?? (ev.verb ?? '').toUpperCase(),
      requestResource: ref.resource ?? '',
      requestUsername: user.username ?? '',
      requestUserUID: user.uid ?? '',
      requestUserGroups: user.groups ?? [],
      ...(dryRun ? { dryRun: true } : {}),
    })),
  };
}
