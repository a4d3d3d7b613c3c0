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

/** The JSON type Gatekeeper gives a field, as messages name it. */
export type FieldType =
  'string' | 'array of strings' | 'object of strings' | 'boolean' | 'JSON value';

/**
 * Every ExportMsg field with its type, in Go struct (and canonical encoding) order: the one
 * table the validator, the byte-level line check and the filters read.
 */
export const EXPORT_MSG_FIELD_TYPES = {
  id: 'string',
  details: 'JSON value',
  eventType: 'string',
  group: 'string',
  version: 'string',
  kind: 'string',
  name: 'string',
  namespace: 'string',
  message: 'string',
  enforcementAction: 'string',
  enforcementActions: 'array of strings',
  constraintAnnotations: 'object of strings',
  resourceGroup: 'string',
  resourceAPIVersion: 'string',
  resourceKind: 'string',
  resourceNamespace: 'string',
  resourceName: 'string',
  resourceLabels: 'object of strings',
  timestamp: 'string',
  operation: 'string',
  requestResource: 'string',
  requestSubresource: 'string',
  requestUsername: 'string',
  requestUserUID: 'string',
  requestUserGroups: 'array of strings',
  dryRun: 'boolean',
} as const satisfies Record<keyof ExportMsg, FieldType>;

export type ExportMsgField = keyof typeof EXPORT_MSG_FIELD_TYPES;

/** Every ExportMsg field, in Go struct (and canonical encoding) order. */
export const EXPORT_MSG_FIELDS = Object.keys(EXPORT_MSG_FIELD_TYPES) as ExportMsgField[];

/** The fields of one type, in order. */
export function fieldsOfType(type: FieldType): ExportMsgField[] {
  return EXPORT_MSG_FIELDS.filter((f) => EXPORT_MSG_FIELD_TYPES[f] === type);
}

/** The `eventType` values Gatekeeper uses. */
export const EventType = {
  ViolationAudited: 'violation_audited',
  ViolationAdmission: 'violation_admission',
} as const;
