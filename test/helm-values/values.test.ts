import { readdirSync, readFileSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Container } from 'kubernetes-models/v1';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse, parseAllDocuments } from 'yaml';
import { runCli } from '../helpers/cli.ts';
import { makeTmpDir } from '../helpers/tmp.ts';
import { helmBinary, helmTemplate, helmUnsupportedReason } from './helm.ts';

const DIR = new URL('../../helm-values/', import.meta.url);
const CHART = fileURLToPath(new URL('../fixtures/gatekeeper-chart/', import.meta.url));
const files = readdirSync(DIR).filter((f) => f.endsWith('.yaml'));

interface Mount {
  name: string;
  mountPath: string;
}
interface ContainerSpec {
  name: string;
  args?: string[];
  env?: { name: string; value?: string }[];
  ports?: { containerPort: number }[];
  volumeMounts?: Mount[];
  securityContext?: Record<string, unknown>;
  livenessProbe?: { httpGet?: { path: string; port: number } };
  readinessProbe?: { httpGet?: { path: string; port: number } };
}
interface Deployment {
  kind: 'Deployment';
  metadata: { name: string };
  spec: {
    template: {
      spec: {
        containers: ContainerSpec[];
        volumes: { name: string; configMap?: { name: string } }[];
      };
    };
  };
}

/** The ConfigMaps this repository ships for the values files (`deploy/*.yaml`). */
const DEPLOY = new URL('../../deploy/', import.meta.url);
const configMaps = readdirSync(DEPLOY)
  .filter((f) => f.endsWith('.yaml'))
  .flatMap((f) => parseAllDocuments(readFileSync(new URL(f, DEPLOY), 'utf8')))
  .map(
    (d) =>
      d.toJS() as { kind?: string; metadata?: { name: string }; data?: Record<string, string> },
  )
  .filter((d) => d.kind === 'ConfigMap');
interface Connection {
  kind: 'Connection';
  spec: { driver: string; config: { path: string; maxAuditResults: number } };
}

/** Where each values file puts its reader: the admission reader rides in the webhook pods. */
const placement = (file: string) =>
  file === 'admission.yaml'
    ? { deployment: 'gatekeeper-controller-manager', other: 'gatekeeper-audit', mode: 'admission' }
    : { deployment: 'gatekeeper-audit', other: 'gatekeeper-controller-manager', mode: 'all' };

/** True when a volume mounted at `mountPath` holds `path`. */
const covers = (mountPath: string, path: string) =>
  path === mountPath || path.startsWith(mountPath.replace(/\/$/, '') + '/');

describe('Helm values files', () => {
  it('exist for every deployment the docs describe', () => {
    expect(files.sort()).toEqual([
      'admission.yaml',
      'hostpath.yaml',
      'openreports.yaml',
      'otlp.yaml',
      'pvc.yaml',
      'reader.yaml',
      'routing.yaml',
      'webhook.yaml',
    ]);
  });

  it.each(files)('%s starts with the exact helm command that uses it', (file) => {
    const text = readFileSync(new URL(file, DIR), 'utf8');
    expect(text.split('\n')[0]).toBe(
      `# helm upgrade --install gatekeeper gatekeeper/gatekeeper -n gatekeeper-system -f helm-values/${file}`,
    );
  });
});

const unsupported = helmUnsupportedReason();

describe.skipIf(unsupported !== undefined)(
  `Helm values files rendered by real helm against Gatekeeper's 3.24 chart${unsupported ? ` (skipped: ${unsupported})` : ''}`,
  () => {
    let tmp: Awaited<ReturnType<typeof makeTmpDir>>;
    const rendered = new Map<string, unknown[]>();
    beforeAll(async () => {
      // No skip here: on linux/amd64 a missing helm is a failure, not a silent pass.
      const helm = await helmBinary();
      tmp = await makeTmpDir('gk-export-helm-');
      for (const file of files) {
        const out = await helmTemplate(helm, CHART, fileURLToPath(new URL(file, DIR)), tmp.dir);
        rendered.set(
          file,
          parseAllDocuments(out)
            .map((d) => d.toJS() as unknown)
            .filter(Boolean),
        );
      }
    }, 120_000);
    afterAll(() => tmp?.cleanup());

    /**
     * The args with `--config=<path>` pointing at a copy of the file the pod would see there: the
     * mount holding the path, its ConfigMap volume, and that ConfigMap from `deploy/`.
     */
    async function mountedConfig(
      args: string[],
      mounts: Mount[],
      pod: Deployment['spec']['template']['spec'],
    ): Promise<string[]> {
      const out: string[] = [];
      for (const a of args) {
        const path = a.startsWith('--config=') ? a.slice('--config='.length) : undefined;
        if (path === undefined) {
          out.push(a);
          continue;
        }
        const mount = mounts.find((m) => covers(m.mountPath, path));
        if (!mount) throw new Error(`no volume mounted at ${path}`);
        const cm = pod.volumes.find((v) => v.name === mount.name)?.configMap?.name;
        const data = configMaps.find((d) => d.metadata?.name === cm)?.data;
        const key = path.slice(mount.mountPath.replace(/\/$/, '').length + 1);
        if (!data?.[key]) throw new Error(`no ConfigMap ${cm} with ${key} in deploy/`);
        const copy = join(tmp.dir, `${cm}-${key}`);
        await writeFile(copy, data[key]);
        out.push(`--config=${copy}`);
      }
      return out;
    }

    for (const file of files) {
      describe(file, () => {
        const where = placement(file);
        const docs = () => rendered.get(file)!;
        const deployment = (name: string) => {
          const d = docs().find(
            (x): x is Deployment =>
              (x as Deployment).kind === 'Deployment' && (x as Deployment).metadata.name === name,
          );
          if (!d) throw new Error(`${file}: no Deployment ${name} rendered`);
          return d.spec.template.spec;
        };
        const connection = () => {
          const c = docs().find((x): x is Connection => (x as Connection).kind === 'Connection');
          if (!c) throw new Error(`${file}: no Connection rendered`);
          return c;
        };
        const values = parse(readFileSync(new URL(file, DIR), 'utf8')) as {
          audit: { exportSidecar?: { name: string } };
          admission?: { exportSidecar?: { name: string } };
        };
        const sidecarName = (values.admission?.exportSidecar ?? values.audit.exportSidecar)!.name;
        const sidecar = () => {
          const c = deployment(where.deployment).containers.find((x) => x.name === sidecarName);
          if (!c) throw new Error(`${file}: no container ${sidecarName} in ${where.deployment}`);
          return c;
        };

        it(`puts the reader in the ${where.deployment} Deployment, and only there`, () => {
          expect(sidecar().name).toBe(sidecarName);
          const other = deployment(where.other).containers.map((c) => c.name);
          expect(other).not.toContain(sidecarName);
          expect(connection().spec.driver).toBe('disk');
        });

        it('runs `read` as a valid, non-root container with a read-only root filesystem', () => {
          const c = sidecar();
          expect(c.args?.[0]).toBe('read');
          expect(() => new Container(c as never).validate()).not.toThrow();
          expect(c.securityContext).toMatchObject({
            readOnlyRootFilesystem: true,
            runAsNonRoot: true,
            allowPrivilegeEscalation: false,
            capabilities: { drop: ['ALL'] },
            seccompProfile: { type: 'RuntimeDefault' },
          });
        });

        it("mounts the volume that holds the Connection's path, the same one the manager mounts", () => {
          const pod = deployment(where.deployment);
          const path = connection().spec.config.path;
          const volumes = new Set(pod.volumes.map((v) => v.name));
          for (const m of sidecar().volumeMounts ?? [])
            expect(volumes.has(m.name), m.name).toBe(true);
          const mine = (sidecar().volumeMounts ?? []).find((m) => covers(m.mountPath, path));
          expect(mine, `a sidecar mount holding ${path}`).toBeDefined();
          const manager = pod.containers.find((c) => c.name === 'manager');
          const theirs = (manager?.volumeMounts ?? []).find((m) => covers(m.mountPath, path));
          expect(theirs?.name, `the manager's mount holding ${path}`).toBe(mine!.name);
          expect(theirs!.mountPath).toBe(mine!.mountPath);
        });

        it('reads that path with its rendered args and env, state on the same volume, probes on its port', async () => {
          const c = sidecar();
          const env = Object.fromEntries(
            (c.env ?? [])
              .filter((e) => e.value !== undefined)
              .map((e) => [e.name, e.value as string]),
          );
          const args = await mountedConfig(
            c.args!,
            c.volumeMounts ?? [],
            deployment(where.deployment),
          );
          const p = runCli([...args, '--check-config'], { env: { ROOT_PATH: '', ...env } });
          expect((await p.exited).code, p.stderr()).toBe(0);
          const { config } = JSON.parse(p.stdout()) as {
            config: { root: string; stateDir: string; mode: string; httpPort: number };
          };
          expect(config.root).toBe(connection().spec.config.path);
          expect(config.mode).toBe(where.mode);
          if (file === 'routing.yaml') {
            // A team route and a catch-all, each its own sink.
            const { sinks } = JSON.parse(p.stdout()) as {
              sinks: { name: string; route?: { namespaces: string[] } }[];
            };
            expect(sinks.map((x) => [x.name, x.route?.namespaces])).toEqual([
              ['team-payments', ['payments-*']],
              ['siem', undefined],
            ]);
          }
          const exportMount = (c.volumeMounts ?? []).find((m) => covers(m.mountPath, config.root))!;
          expect(covers(exportMount.mountPath, config.stateDir)).toBe(true);
          expect(c.ports?.map((x) => x.containerPort)).toContain(config.httpPort);
          expect(c.livenessProbe?.httpGet).toEqual({ path: '/healthz', port: config.httpPort });
          if (where.mode === 'admission') {
            // Its readiness would be the webhook pod's: a stopped sink must not take the
            // webhook out of its Service.
            expect(c.readinessProbe).toBeUndefined();
          } else {
            expect(c.readinessProbe?.httpGet).toEqual({ path: '/readyz', port: config.httpPort });
          }
        });
      });
    }
  },
);
