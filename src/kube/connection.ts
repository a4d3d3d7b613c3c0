import type * as K8s from '@kubernetes/client-node';
import type { KubeConfig } from '@kubernetes/client-node';
import type { Telemetry } from '../telemetry/index.ts';

/** What the reader takes from a Gatekeeper Connection (or the legacy ConfigMap). */
export interface ConnectionSettings {
  /** `spec.config.path`: the export root. */
  readonly root?: string;
  /** `spec.config.maxAuditResults`. */
  readonly maxAuditResults?: number;
  /** The object's resourceVersion, to start a watch from. */
  readonly resourceVersion?: string;
  /** Which kind it came from. */
  readonly from: 'Connection' | 'ConfigMap';
}

export interface ConnectionRef {
  readonly name: string;
  readonly namespace: string;
  /** A kubeconfig file; default: in-cluster, else $KUBECONFIG / ~/.kube/config. */
  readonly kubeconfigPath?: string;
  readonly telemetry: Telemetry;
}

const GROUP = 'connection.gatekeeper.sh';
const VERSION = 'v1alpha1';
const PLURAL = 'connections';

// The client is large (tens of MiB resident): load it only when discovery is asked for.
async function client(kubeconfigPath?: string) {
  const k8s = await import('@kubernetes/client-node');
  const kc = new k8s.KubeConfig();
  if (kubeconfigPath) kc.loadFromFile(kubeconfigPath);
  else kc.loadFromDefault();
  return { k8s, kc };
}

function statusOf(err: unknown): number | undefined {
  if (typeof err !== 'object' || err === null) return undefined;
  const code = (err as { code?: unknown }).code;
  return typeof code === 'number' ? code : undefined;
}

/** Reads the export settings out of a driver + config pair; a reason string when unusable. */
export function settingsFrom(
  driver: unknown,
  config: unknown,
  from: ConnectionSettings['from'],
  resourceVersion?: string,
): ConnectionSettings | string {
  if (driver !== 'disk')
    return `driver is ${JSON.stringify(driver)}, gk-export reads only the "disk" driver`;
  const c = (config ?? {}) as { path?: unknown; maxAuditResults?: unknown };
  if (c.path !== undefined && (typeof c.path !== 'string' || !c.path.startsWith('/'))) {
    return `config.path ${JSON.stringify(c.path)} is not an absolute path`;
  }
  const max = c.maxAuditResults;
  if (max !== undefined && (!Number.isInteger(max) || (max as number) < 0 || (max as number) > 5)) {
    return `config.maxAuditResults ${JSON.stringify(max)} is not an integer from 0 to 5`;
  }
  return {
    from,
    ...(typeof c.path === 'string' ? { root: c.path } : {}),
    ...(max !== undefined ? { maxAuditResults: max as number } : {}),
    ...(resourceVersion ? { resourceVersion } : {}),
  };
}

/**
 * Reads the Gatekeeper Connection `connection.gatekeeper.sh/v1alpha1` NAME in NAMESPACE, or —
 * where that kind is not served — the legacy ConfigMap of the same name (`data.driver`,
 * `data.config` as JSON). Any problem (no API server, no RBAC, not found, not the disk
 * driver, bad values) is one WARN naming the cause, and undefined: the reader then runs on
 * its flags and environment.
 *
 * @example
 * ```ts
 * const s = await loadConnection({ name: 'audit-connection', namespace: 'gatekeeper-system', telemetry });
 * ```
 */
export async function loadConnection(ref: ConnectionRef): Promise<ConnectionSettings | undefined> {
  const { log } = ref.telemetry;
  const where = { connection: ref.name, namespace: ref.namespace };
  let api;
  try {
    api = await client(ref.kubeconfigPath);
  } catch (err) {
    log.warn(
      { ...where, err: (err as Error).message },
      'no Kubernetes configuration; running on flags and environment',
    );
    return undefined;
  }
  const { k8s, kc } = api;
  let result: ConnectionSettings | string;
  try {
    const obj = (await kc.makeApiClient(k8s.CustomObjectsApi).getNamespacedCustomObject({
      group: GROUP,
      version: VERSION,
      namespace: ref.namespace,
      plural: PLURAL,
      name: ref.name,
    })) as {
      spec?: { driver?: unknown; config?: unknown };
      metadata?: { resourceVersion?: string };
    };
    result = settingsFrom(
      obj.spec?.driver,
      obj.spec?.config,
      'Connection',
      obj.metadata?.resourceVersion,
    );
  } catch (err) {
    const status = statusOf(err);
    if (status === 404) {
      result = await fromConfigMap(kc, k8s, ref);
    } else if (status === 403) {
      result = `no permission to read ${PLURAL}.${GROUP} (RBAC: grant get/list/watch)`;
    } else {
      result = `cannot read the Connection: ${(err as Error).message}`;
    }
  }
  if (typeof result === 'string') {
    log.warn({ ...where, reason: result }, 'Connection not used; running on flags and environment');
    return undefined;
  }
  log.info(
    { ...where, from: result.from, root: result.root, maxAuditResults: result.maxAuditResults },
    'export settings from the cluster',
  );
  return result;
}

async function fromConfigMap(
  kc: KubeConfig,
  k8s: typeof K8s,
  ref: ConnectionRef,
): Promise<ConnectionSettings | string> {
  try {
    const cm = await kc
      .makeApiClient(k8s.CoreV1Api)
      .readNamespacedConfigMap({ name: ref.name, namespace: ref.namespace });
    let config: unknown;
    try {
      config = cm.data?.config ? JSON.parse(cm.data.config) : {};
    } catch {
      return `ConfigMap ${ref.name} data.config is not JSON`;
    }
    return settingsFrom(cm.data?.driver, config, 'ConfigMap', cm.metadata?.resourceVersion);
  } catch (err) {
    const status = statusOf(err);
    if (status === 404) return `neither a Connection nor a ConfigMap named ${ref.name} exists`;
    if (status === 403) return 'no permission to read configmaps (RBAC)';
    return `cannot read the ConfigMap: ${(err as Error).message}`;
  }
}

/**
 * Watches the Connection (list + watch from its resourceVersion; a watch that ends is
 * resumed from the last version seen, a 410 Gone re-lists) and calls `onChange` with new
 * settings. Returns a stop function.
 *
 * @example
 * ```ts
 * const stop = await watchConnection(ref, initial, (s) => apply(s));
 * ```
 */
export async function watchConnection(
  ref: ConnectionRef,
  initial: ConnectionSettings,
  onChange: (s: ConnectionSettings) => void,
): Promise<() => void> {
  const { k8s, kc } = await client(ref.kubeconfigPath);
  const path =
    initial.from === 'Connection'
      ? `/apis/${GROUP}/${VERSION}/namespaces/${ref.namespace}/${PLURAL}`
      : `/api/v1/namespaces/${ref.namespace}/configmaps`;
  let version = initial.resourceVersion;
  let stopped = false;
  let current: AbortController | undefined;
  let retry: NodeJS.Timeout | undefined;
  const start = async (): Promise<void> => {
    if (stopped) return;
    current = await new k8s.Watch(kc).watch(
      path,
      {
        fieldSelector: `metadata.name=${ref.name}`,
        resourceVersion: version,
        allowWatchBookmarks: true,
      },
      (
        phase,
        obj: {
          metadata?: { resourceVersion?: string };
          spec?: { driver?: unknown; config?: unknown };
          data?: Record<string, string>;
        },
      ) => {
        version = obj.metadata?.resourceVersion ?? version;
        if (phase !== 'ADDED' && phase !== 'MODIFIED') return;
        let config: unknown = obj.spec?.config;
        let driver: unknown = obj.spec?.driver;
        if (initial.from === 'ConfigMap') {
          driver = obj.data?.driver;
          try {
            config = obj.data?.config ? JSON.parse(obj.data.config) : {};
          } catch {
            config = undefined;
          }
        }
        const s = settingsFrom(driver, config, initial.from, version);
        if (typeof s === 'string')
          ref.telemetry.log.warn({ connection: ref.name, reason: s }, 'Connection change ignored');
        else onChange(s);
      },
      (err: unknown) => {
        if (stopped) return;
        if (statusOf(err) === 410) version = undefined; // too old: list again
        if (err)
          ref.telemetry.log.warn(
            { connection: ref.name, err: String((err as Error).message ?? err) },
            'Connection watch ended; resuming',
          );
        retry = setTimeout(() => void start().catch(() => undefined), err ? 1000 : 0);
        retry.unref();
      },
    );
  };
  await start();
  return () => {
    stopped = true;
    clearTimeout(retry);
    current?.abort();
  };
}
