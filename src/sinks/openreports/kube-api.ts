import { GkExportError } from '../../errors.ts';
import {
  CHANNEL_LABEL,
  MANAGED_BY,
  OPENREPORTS_GROUP,
  OPENREPORTS_VERSION,
  type ReportTarget,
} from './reports.ts';

/** How long one API request may go unanswered before it is retried. */
export const REQUEST_TIMEOUT_MS = 30_000;

/** The field manager of every apply: what `kubectl get --show-managed-fields` names. */
export const FIELD_MANAGER = 'gk-export';

/**
 * A failed API call: the HTTP status (none for a connection error) and the response.
 *
 * @example
 * ```ts
 * if (err instanceof ReportsApiError && err.retryable) await backoff();
 * ```
 */
export class ReportsApiError extends Error {
  readonly status: number | undefined;
  readonly body: string;
  readonly retryAfter: string | undefined;

  constructor(message: string, status: number | undefined, body: string, retryAfter?: string) {
    super(message);
    this.status = status;
    this.body = body;
    this.retryAfter = retryAfter;
  }

  /** Worth retrying: no answer, 409 Conflict, 429, or a 5xx. */
  get retryable(): boolean {
    const s = this.status;
    return s === undefined || s === 409 || s === 429 || s >= 500;
  }
}

/** What the OpenReports sink asks of the API server. */
export interface ReportsApi {
  /** Server-side apply of a Report or ClusterReport (`fieldManager: gk-export`, forced). */
  apply(object: Record<string, unknown>): Promise<void>;
  /** Scopes (namespaces; `''` for the ClusterReport) where the channel's report has results. */
  scopesWithResults(target: ReportTarget): Promise<Set<string>>;
}

interface ListedReport {
  metadata?: { name?: string; namespace?: string };
  results?: unknown[];
  summary?: Record<string, number>;
}

/**
 * The OpenReports API through @kubernetes/client-node, which is loaded here, on first use,
 * and only when the sink is selected (it is large). Credentials come from `kubeconfigPath`,
 * else in-cluster, else $KUBECONFIG.
 *
 * @example
 * ```ts
 * const api = await createReportsApi();
 * await api.apply(reportObject(target, 'team-a', scope, { auditId, maxResults: 1000 }));
 * ```
 */
export async function createReportsApi(
  kubeconfigPath?: string,
  opts: { readonly timeoutMs?: number } = {},
): Promise<ReportsApi> {
  const timeoutMs = opts.timeoutMs ?? REQUEST_TIMEOUT_MS;
  const k8s = await import('@kubernetes/client-node');
  const kc = new k8s.KubeConfig();
  try {
    if (kubeconfigPath) kc.loadFromFile(kubeconfigPath);
    else kc.loadFromDefault();
  } catch (err) {
    throw new GkExportError(
      'ERR_KUBE_CONFIG',
      `--sink openreports: cannot load the Kubernetes configuration from ${kubeconfigPath ?? 'the cluster or $KUBECONFIG'}: ${(err as Error).message}; set --kubeconfig or run in a pod`,
      { cause: err },
    );
  }
  const api = kc.makeApiClient(k8s.CustomObjectsApi);
  const applyOptions = k8s.setHeaderOptions('Content-Type', k8s.PatchStrategy.ServerSideApply);
  const base = { group: OPENREPORTS_GROUP, version: OPENREPORTS_VERSION };

  // A request the API server never answers would hold the run (and the lane) for good: after
  // the timeout it counts as a connection error, retried like one. (The client takes no abort
  // signal: the late answer, if any, is ignored; an apply is idempotent.)
  async function call<T>(what: string, fn: () => Promise<T>): Promise<T> {
    let timer: NodeJS.Timeout | undefined;
    const request = fn();
    request.catch(() => undefined);
    const timedOut = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () =>
          reject(new ReportsApiError(`${what}: no answer within ${timeoutMs} ms`, undefined, '')),
        timeoutMs,
      );
    });
    try {
      return await Promise.race([request, timedOut]);
    } catch (err) {
      throw err instanceof ReportsApiError ? err : toApiError(what, err);
    } finally {
      clearTimeout(timer);
    }
  }

  return {
    async apply(object) {
      const meta = object.metadata as { name: string; namespace?: string };
      const common = {
        ...base,
        name: meta.name,
        body: object,
        fieldManager: FIELD_MANAGER,
        force: true,
      };
      if (meta.namespace) {
        await call(`apply Report ${meta.namespace}/${meta.name}`, () =>
          api.patchNamespacedCustomObject(
            { ...common, namespace: meta.namespace!, plural: 'reports' },
            applyOptions,
          ),
        );
      } else {
        await call(`apply ClusterReport ${meta.name}`, () =>
          api.patchClusterCustomObject({ ...common, plural: 'clusterreports' }, applyOptions),
        );
      }
    },

    async scopesWithResults(target) {
      const selector = Object.entries({ ...MANAGED_BY, [CHANNEL_LABEL]: target.channelLabel })
        .map(([k, v]) => `${k}=${v}`)
        .join(',');
      const scopes = new Set<string>();
      for (const plural of ['reports', 'clusterreports']) {
        let cont: string | undefined;
        do {
          const page = (await call(`list ${plural}`, () =>
            api.listClusterCustomObject({
              ...base,
              plural,
              labelSelector: selector,
              limit: 500,
              ...(cont ? { _continue: cont } : {}),
            }),
          )) as { items?: ListedReport[]; metadata?: { continue?: string } };
          for (const item of page.items ?? []) {
            if (item.metadata?.name !== target.name) continue;
            const counted = Object.values(item.summary ?? {}).some((n) => n > 0);
            if (counted || (item.results?.length ?? 0) > 0) {
              scopes.add(item.metadata?.namespace ?? '');
            }
          }
          cont = page.metadata?.continue || undefined;
        } while (cont);
      }
      return scopes;
    },
  };
}

function toApiError(what: string, err: unknown): ReportsApiError {
  const e = err as { code?: unknown; body?: unknown; headers?: Record<string, string> };
  const status = typeof e?.code === 'number' ? e.code : undefined;
  const body =
    typeof e?.body === 'string' ? e.body : e?.body === undefined ? '' : JSON.stringify(e.body);
  const reason = status === undefined ? (err as Error)?.message : `HTTP ${status}`;
  return new ReportsApiError(
    `${what}: ${reason}`,
    status,
    body.slice(0, 2048),
    e?.headers?.['retry-after'],
  );
}
