/** API-server audit events modelled on the seed's KRM example. */
export function auditEvent(i: number, over: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    kind: 'Event',
    apiVersion: 'audit.k8s.io/v1',
    level: 'Metadata',
    auditID: `3611358c-f8b0-4780-9268-${String(i).padStart(12, '0')}`,
    stage: 'ResponseComplete',
    requestURI:
      '/apis/resourcemanager.gdc.goog/v1/namespaces/gpc-system/projects?fieldManager=kubectl-client-side-apply',
    verb: 'create',
    user: {
      username: 'fop-platform-admin@example.com',
      uid: 'u-1',
      groups: ['system:authenticated'],
    },
    sourceIPs: ['10.200.0.2'],
    userAgent: 'kubectl/v1.31.0',
    objectRef: {
      apiVersion: 'v1',
      name: `app${i}-project`,
      resource: 'projects',
      namespace: 'gpc-system',
      apiGroup: 'resourcemanager.gdc.goog',
    },
    requestReceivedTimestamp: '2022-12-09T23:51:56.997825Z',
    responseStatus: {
      code: 403,
      status: 'Failure',
      metadata: {},
      message: `admission webhook "validation.gatekeeper.sh" denied the request: [restrictprojectaccess] username <fop-platform-admin@example.com> with groups <["system:authenticated"]> is not allowed for this resource <Project/app${i}-project>`,
    },
    ...over,
  };
}

/** An ordinary allowed request (most of an audit log). */
export function allowedEvent(i: number): Record<string, unknown> {
  return { ...auditEvent(i), verb: 'get', responseStatus: { code: 200, metadata: {} } };
}
