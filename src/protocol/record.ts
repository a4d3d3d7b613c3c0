/**
 * The record Gatekeeper exports (`ExportMsg` in pkg/export/util), one per line.
 * Field order here is the Go struct's order, which is also the canonical encoding order.
 */
export interface ExportMsg {
  id?: string;
  details?: unknown;
  eventType?: string;
  group?: string;
  version?: string;
  kind?: string;
  name?: string;
  namespace?: string;
  message?: string;
  enforcementAction?: string;
  enforcementActions?: string[];
  constraintAnnotations?: Record<string, string>;
  resourceGroup?: string;
  resourceAPIVersion?: string;
  resourceKind?: string;
  resourceNamespace?: string;
  resourceName?: string;
  resourceLabels?: Record<string, string>;
  timestamp?: string;
  operation?: string;
  requestResource?: string;
  requestSubresource?: string;
  requestUsername?: string;
  requestUserUID?: string;
  requestUserGroups?: string[];
  dryRun?: boolean;
}

/** Every ExportMsg field, in Go struct (and canonical encoding) order. */
export const EXPORT_MSG_FIELDS = [
  'id',
  'details',
  'eventType',
  'group',
  'version',
  'kind',
  'name',
  'namespace',
  'message',
  'enforcementAction',
  'enforcementActions',
  'constraintAnnotations',
  'resourceGroup',
  'resourceAPIVersion',
  'resourceKind',
  'resourceNamespace',
  'resourceName',
  'resourceLabels',
  'timestamp',
  'operation',
  'requestResource',
  'requestSubresource',
  'requestUsername',
  'requestUserUID',
  'requestUserGroups',
  'dryRun',
] as const satisfies readonly (keyof ExportMsg)[];

export type ExportMsgField = (typeof EXPORT_MSG_FIELDS)[number];

/** The `eventType` values Gatekeeper uses. */
export const EventType = {
  ViolationAudited: 'violation_audited',
  ViolationAdmission: 'violation_admission',
} as const;
