import type { ExportMsg } from '../protocol/record.ts';
import type { KubeObject } from './cluster.ts';

/** A demo constraint: a Gatekeeper constraint's identity plus its policy, in TypeScript. */
export interface DemoConstraint {
  readonly kind: string;
  readonly name: string;
  readonly enforcementAction: 'deny' | 'warn' | 'dryrun';
  /** Violation messages and details for an object (empty when it complies). */
  check(o: KubeObject): { message: string; details: Record<string, unknown> }[];
}

const ALLOWED_REPOS = ['registry.example.com/'];
const MAX_CPU_MILLI = 2000;

function cpuMilli(v: string): number {
  return v.endsWith('m') ? Number(v.slice(0, -1)) : Number(v) * 1000;
}

/** The three constraints of the demo, modelled on the Gatekeeper library's templates. */
export const DEMO_CONSTRAINTS: readonly DemoConstraint[] = [
  {
    kind: 'K8sRequiredLabels',
    name: 'ns-must-have-owner',
    enforcementAction: 'deny',
    check(o) {
      if (o.kind !== 'Namespace' || 'owner' in o.labels) return [];
      return [
        { message: 'you must provide labels: {"owner"}', details: { missing_labels: ['owner'] } },
      ];
    },
  },
  {
    kind: 'K8sAllowedRepos',
    name: 'repo-is-internal',
    enforcementAction: 'deny',
    check(o) {
      if (o.kind !== 'Pod') return [];
      return (o.containers ?? [])
        .filter((c) => !ALLOWED_REPOS.some((r) => c.image.startsWith(r)))
        .map((c) => ({
          message: `container <${c.name}> has an invalid image repo <${c.image}>, allowed repos are ["${ALLOWED_REPOS.join('", "')}"]`,
          details: {},
        }));
    },
  },
  {
    kind: 'K8sContainerLimits',
    name: 'containers-must-have-limits',
    enforcementAction: 'warn',
    check(o) {
      if (o.kind !== 'Pod') return [];
      const out: { message: string; details: Record<string, unknown> }[] = [];
      for (const c of o.containers ?? []) {
        if (!c.limits?.cpu || !c.limits.memory) {
          out.push({ message: `container <${c.name}> has no resource limits`, details: {} });
        } else if (cpuMilli(c.limits.cpu) > MAX_CPU_MILLI) {
          out.push({
            message: `container <${c.name}> cpu limit <${c.limits.cpu}> is higher than the maximum allowed of <2>`,
            details: {},
          });
        }
      }
      return out;
    },
  },
];

/**
 * Audits the objects against the constraints: the violations, as Gatekeeper exports them.
 *
 * @example
 * ```ts
 * const violations = auditCluster(objects, DEMO_CONSTRAINTS, '2026-01-01T00:00:00Z');
 * ```
 */
export function auditCluster(
  objects: readonly KubeObject[],
  constraints: readonly DemoConstraint[],
  auditId: string,
): ExportMsg[] {
  const out: ExportMsg[] = [];
  for (const c of constraints) {
    for (const o of objects) {
      for (const v of c.check(o)) {
        const slash = o.apiVersion.indexOf('/');
        out.push({
          id: auditId,
          details: v.details,
          eventType: 'violation_audited',
          group: 'constraints.gatekeeper.sh',
          version: 'v1beta1',
          kind: c.kind,
          name: c.name,
          message: v.message,
          enforcementAction: c.enforcementAction,
          resourceGroup: slash > 0 ? o.apiVersion.slice(0, slash) : '',
          resourceAPIVersion: slash > 0 ? o.apiVersion.slice(slash + 1) : o.apiVersion,
          resourceKind: o.kind,
          resourceNamespace: o.namespace ?? '',
          resourceName: o.name,
          resourceLabels: o.labels,
        });
      }
    }
  }
  return out;
}
