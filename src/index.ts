/**
 * gk-export as a library: the Gatekeeper-compatible writer (`gk-export/writer`) and the
 * disk-export contract (`gk-export/protocol`) from one entry. The reader is not part of it: it
 * is the `gk-export read` sidecar, configured by flags and environment, not embedded.
 *
 * @example
 * ```ts
 * import { createDiskWriter, validateExportMsg, type ExportMsg } from 'gk-export';
 *
 * const writer = createDiskWriter({ root: '/tmp/violations/topics', maxAuditResults: 3 });
 * const r = validateExportMsg(candidate);
 * if (r.ok) await writer.publish('audit-channel', r.msg);
 * ```
 */
export * from './protocol/index.ts';
export * from './writer/index.ts';
