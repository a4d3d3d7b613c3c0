import { readdirSync, readFileSync } from 'node:fs';
import { Container } from 'kubernetes-models/v1';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { runCli } from '../helpers/cli.ts';

const DIR = new URL('../../helm-values/', import.meta.url);
const files = readdirSync(DIR).filter((f) => f.endsWith('.yaml'));

interface Values {
  audit: {
    exportVolume: { name: string };
    exportVolumeMount: { path: string };
    exportSidecar: Record<string, unknown> & {
      args: string[];
      volumeMounts: { name: string; mountPath: string }[];
    };
  };
  extraVolumes?: { name: string }[];
}

describe('Helm values files', () => {
  it('exist for every deployment the docs describe', () => {
    expect(files.sort()).toEqual([
      'admission.yaml',
      'hostpath.yaml',
      'openreports.yaml',
      'otlp.yaml',
      'pvc.yaml',
      'reader.yaml',
      'webhook.yaml',
    ]);
  });

  for (const file of files) {
    describe(file, () => {
      const text = readFileSync(new URL(file, DIR), 'utf8');
      const values = parse(text) as Values;
      const sidecar = values.audit.exportSidecar;

      it('starts with the exact helm command that uses it', () => {
        expect(text.split('\n')[0]).toBe(
          `# helm upgrade --install gatekeeper gatekeeper/gatekeeper -n gatekeeper-system -f helm-values/${file}`,
        );
      });

      it('has a sidecar that is a valid Kubernetes Container with the restricted security context', () => {
        expect(() => new Container(sidecar as never).validate()).not.toThrow();
        expect(sidecar.securityContext).toMatchObject({
          readOnlyRootFilesystem: true,
          runAsNonRoot: true,
          allowPrivilegeEscalation: false,
          capabilities: { drop: ['ALL'] },
          seccompProfile: { type: 'RuntimeDefault' },
        });
      });

      it('mounts only volumes that exist, the export volume at the export mount path', () => {
        const volumes = new Set([
          values.audit.exportVolume.name,
          ...(values.extraVolumes ?? []).map((v) => v.name),
        ]);
        for (const m of sidecar.volumeMounts) expect(volumes.has(m.name), m.name).toBe(true);
        const exportMount = sidecar.volumeMounts.find(
          (m) => m.name === values.audit.exportVolume.name,
        );
        expect(exportMount?.mountPath).toBe(values.audit.exportVolumeMount.path);
      });

      it('passes `gk-export read --check-config` with its args', async () => {
        const p = runCli([...sidecar.args, '--check-config']);
        const { code } = await p.exited;
        expect(code, p.stderr()).toBe(0);
        const { config } = JSON.parse(p.stdout()) as { config: { root: string } };
        expect(config.root.startsWith(values.audit.exportVolumeMount.path)).toBe(true);
      });
    });
  }
});
