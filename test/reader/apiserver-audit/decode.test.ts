import { describe, expect, it } from 'vitest';
import { decodeAuditEvent } from '../../../src/reader/apiserver-audit/decode.ts';
import { validateExportMsg } from '../../../src/protocol/validate.ts';
import { allowedEvent, auditEvent } from '../../helpers/audit-events.ts';

const decode = (ev: unknown) => decodeAuditEvent(JSON.stringify(ev), 'validation.gatekeeper.sh');

describe('API-server audit event → admission records', () => {
  it("maps the seed's denial to one violation_admission record", () => {
    const r = decode(auditEvent(1));
    expect('records' in r && r.records).toEqual([
      {
        id: '2022-12-09T23:51:56.997825Z',
        details: {
          request: {
            auditID: '3611358c-f8b0-4780-9268-000000000001',
            sourceIPs: ['10.200.0.2'],
            userAgent: 'kubectl/v1.31.0',
          },
        },
        eventType: 'violation_admission',
        name: 'restrictprojectaccess',
        message:
          'username <fop-platform-admin@example.com> with groups <["system:authenticated"]> is not allowed for this resource <Project/app1-project>',
        enforcementAction: 'deny',
        resourceGroup: 'resourcemanager.gdc.goog',
        resourceAPIVersion: 'v1',
        resourceKind: 'Project',
        resourceNamespace: 'gpc-system',
        resourceName: 'app1-project',
        timestamp: '2022-12-09T23:51:56.997825Z',
        operation: 'CREATE',
        requestResource: 'projects',
        requestUsername: 'fop-platform-admin@example.com',
        requestUserUID: 'u-1',
        requestUserGroups: ['system:authenticated'],
      },
    ]);
    if ('records' in r) expect(validateExportMsg(r.records[0]).ok).toBe(true);
  });

  it('makes one record per constraint named in the message', () => {
    const ev = auditEvent(2, {
      objectRef: { apiVersion: 'v1', name: 'web', resource: 'pods', namespace: 'shop' },
      responseStatus: {
        code: 403,
        message:
          'admission webhook "validation.gatekeeper.sh" denied the request: [pod-must-have-owner] you must provide labels: {"owner"}\n[repo-is-internal] container <web> has an invalid image repo <nginx>',
      },
    });
    const r = decode(ev);
    expect('records' in r && r.records.map((x) => [x.name, x.message, x.resourceKind])).toEqual([
      ['pod-must-have-owner', 'you must provide labels: {"owner"}', 'Pod'],
      ['repo-is-internal', 'container <web> has an invalid image repo <nginx>', 'Pod'],
    ]);
  });

  it('marks a dry-run request and handles a cluster-scoped object', () => {
    const r = decode(
      auditEvent(3, {
        requestURI: '/api/v1/namespaces?dryRun=All',
        objectRef: { apiVersion: 'v1', name: 'team-x', resource: 'namespaces' },
        verb: 'update',
      }),
    );
    expect('records' in r && r.records[0]).toMatchObject({
      dryRun: true,
      resourceNamespace: '',
      resourceKind: 'Namespace',
      operation: 'UPDATE',
    });
  });

  it.each([
    ['an allowed request', allowedEvent(4), 'not_denied'],
    [
      'another webhook',
      auditEvent(5, {
        responseStatus: {
          code: 403,
          message: 'admission webhook "policy.example.com" denied the request: no',
        },
      }),
      'other_webhook',
    ],
    ['an event without a response', { ...auditEvent(6), responseStatus: undefined }, 'no_response'],
    ['a line that is not an audit event', { hello: 'world' }, 'not_an_audit_event'],
  ])('skips %s with reason %s', (_w, ev, reason) => {
    expect(decode(ev)).toEqual({ skip: reason });
  });

  it('flags malformed lines as invalid', () => {
    expect(decodeAuditEvent('{"kind":', 'validation.gatekeeper.sh')).toMatchObject({
      invalid: expect.stringContaining('not JSON'),
    });
  });
});
