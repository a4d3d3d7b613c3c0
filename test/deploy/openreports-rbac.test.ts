import { readFileSync } from 'node:fs';
import { ClusterRole, ClusterRoleBinding } from 'kubernetes-models/rbac.authorization.k8s.io/v1';
import { describe, expect, it } from 'vitest';
import { parseAllDocuments } from 'yaml';

const text = readFileSync(new URL('../../deploy/openreports-rbac.yaml', import.meta.url), 'utf8');
const docs = parseAllDocuments(text).map((d) => d.toJS() as Record<string, unknown>);
const role = docs.find((d) => d.kind === 'ClusterRole') as {
  metadata: { name: string };
  rules: { apiGroups: string[]; resources: string[]; verbs: string[] }[];
};
const binding = docs.find((d) => d.kind === 'ClusterRoleBinding') as {
  roleRef: { name: string };
  subjects: { kind: string; name: string; namespace: string }[];
};

describe('deploy/openreports-rbac.yaml', () => {
  it('starts with the command that applies it', () => {
    expect(text.split('\n')[0]).toBe('# kubectl apply -f deploy/openreports-rbac.yaml');
  });

  it('holds a valid ClusterRole and ClusterRoleBinding', () => {
    expect(() => new ClusterRole(role as never).validate()).not.toThrow();
    expect(() => new ClusterRoleBinding(binding as never).validate()).not.toThrow();
  });

  it('grants what the sink does (list, server-side apply) on both kinds, and no more', () => {
    expect(role.rules).toEqual([
      {
        apiGroups: ['openreports.io'],
        resources: ['reports', 'clusterreports'],
        verbs: ['get', 'list', 'create', 'patch'],
      },
    ]);
  });

  it("binds the role to the Gatekeeper audit pod's service account", () => {
    expect(binding.roleRef.name).toBe(role.metadata.name);
    expect(binding.subjects).toEqual([
      { kind: 'ServiceAccount', name: 'gatekeeper-admin', namespace: 'gatekeeper-system' },
    ]);
  });
});
