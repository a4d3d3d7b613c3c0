import { hash } from 'node:crypto';
import type { ExportMsg } from '../../protocol/record.ts';

/** Bytes of a violation's identity hash. */
export const IDENTITY_BYTES = 16;

/**
 * A violation's identity: the constraint (group, kind, name), the resource (group, version,
 * kind, namespace, name) and the message — not the audit id, timestamp, details or labels,
 * which change from run to run without the violation changing. Hashed (SHA-256, first 16
 * bytes) so that the state kept per violation has a fixed size.
 *
 * @example
 * ```ts
 * violationIdentity(msg).length; // 16
 * ```
 */
export function violationIdentity(m: ExportMsg): Buffer {
  // A JSON array keeps the fields apart: no value can pass for a separator.
  const key = JSON.stringify([
    m.group ?? '',
    m.kind ?? '',
    m.name ?? '',
    m.resourceGroup ?? '',
    m.resourceAPIVersion ?? '',
    m.resourceKind ?? '',
    m.resourceNamespace ?? '',
    m.resourceName ?? '',
    m.message ?? '',
  ]);
  return hash('sha256', key, 'buffer').subarray(0, IDENTITY_BYTES);
}
