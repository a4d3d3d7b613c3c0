/** A small Kubernetes object, as much of it as the demo constraints look at. */
export interface KubeObject {
  readonly apiVersion: string;
  readonly kind: 'Namespace' | 'Deployment' | 'Pod';
  readonly name: string;
  readonly namespace?: string;
  readonly labels: Record<string, string>;
  readonly containers?: readonly {
    readonly name: string;
    readonly image: string;
    readonly limits?: { readonly cpu?: string; readonly memory?: string };
  }[];
}

/** A deterministic pseudo-random source (so demo runs and tests are reproducible). */
export function seededRandom(seed: number): () => number {
  let s = seed >>> 0 || 1;
  return () => {
    s ^= s << 13;
    s ^= s >>> 17;
    s ^= s << 5;
    return (s >>> 0) / 2 ** 32;
  };
}

const TEAMS = ['payments', 'search', 'checkout', 'platform', 'data'];
const IMAGES = [
  'registry.example.com/payments/api:1.4.2',
  'registry.example.com/search/indexer:2.0.1',
  'registry.example.com/checkout/web:3.2.0',
  'registry.example.com/platform/proxy:0.9.0',
  'registry.example.com/data/etl:5.1.0',
];

/**
 * The demo's built-in cluster: a few namespaces with deployments and their pods; some
 * objects comply with the constraints and some do not.
 *
 * @example
 * ```ts
 * const objects = buildCluster(seededRandom(42));
 * ```
 */
export function buildCluster(rand: () => number): KubeObject[] {
  const objects: KubeObject[] = [];
  // Fixed policy outcomes (so every constraint has violations); names and replicas vary.
  const withoutOwner = new Set(['search', 'data']);
  const externalImage: Record<string, string> = {
    'platform-worker': 'docker.io/library/nginx:1.27',
    'data-api': 'quay.io/prometheus/node-exporter:v1.8.0',
    'checkout-api': 'docker.io/library/redis:7.4',
  };
  const noLimits = new Set(['checkout-worker', 'search-api', 'data-worker']);
  const tooMuchCpu = new Set(['payments-worker']);
  TEAMS.forEach((team, t) => {
    const ns = `${team}-prod`;
    const nsLabels: Record<string, string> = { 'kubernetes.io/metadata.name': ns };
    if (!withoutOwner.has(team)) nsLabels.owner = `team-${team}`;
    objects.push({ apiVersion: 'v1', kind: 'Namespace', name: ns, labels: nsLabels });
    for (const role of ['api', 'worker']) {
      const app = `${team}-${role}`;
      const container = {
        name: app,
        image: externalImage[app] ?? IMAGES[t % IMAGES.length]!,
        ...(noLimits.has(app)
          ? {}
          : { limits: { cpu: tooMuchCpu.has(app) ? '4' : '500m', memory: '512Mi' } }),
      };
      objects.push({
        apiVersion: 'apps/v1',
        kind: 'Deployment',
        name: app,
        namespace: ns,
        labels: { app },
        containers: [container],
      });
      const replicas = 1 + Math.floor(rand() * 3);
      for (let r = 0; r < replicas; r++) objects.push(podOf(app, ns, container, rand));
    }
  });
  return objects;
}

function podOf(
  app: string,
  namespace: string,
  container: NonNullable<KubeObject['containers']>[number],
  rand: () => number,
): KubeObject {
  const suffix = Math.floor(rand() * 36 ** 5)
    .toString(36)
    .padStart(5, '0');
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    name: `${app}-7d9c8b6f5-${suffix}`,
    namespace,
    labels: { app, 'pod-template-hash': '7d9c8b6f5' },
    containers: [container],
  };
}

/**
 * The cluster a little later: some pods replaced (new names), as between two real audits.
 *
 * @example
 * ```ts
 * objects = evolveCluster(objects, rand);
 * ```
 */
export function evolveCluster(objects: readonly KubeObject[], rand: () => number): KubeObject[] {
  return objects.map((o) => {
    if (o.kind !== 'Pod' || rand() > 0.3 || !o.namespace) return o;
    const app = o.labels.app ?? o.name;
    return podOf(app, o.namespace, o.containers![0]!, rand);
  });
}
