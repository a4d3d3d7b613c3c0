import { encodeExportMsg } from '../protocol/encode.ts';
import { EXPORT_MSG_FIELDS, type ExportMsg, type ExportMsgField } from '../protocol/record.ts';
import type { Delivery } from '../sinks/sink.ts';
import type { Metrics } from '../telemetry/index.ts';

/** Record selection and redaction, applied before the sinks. Empty lists select everything. */
export interface FilterConfig {
  readonly eventTypes: readonly string[];
  readonly enforcementActions: readonly string[];
  readonly constraintKinds: readonly string[];
  /** Matched against the violating resource's namespace (`resourceNamespace`). */
  readonly namespaces: readonly string[];
  readonly dropFields: readonly ExportMsgField[];
}

/** Fields `--drop-field` may name: every ExportMsg field except the run id. */
export const DROPPABLE_FIELDS: readonly ExportMsgField[] = EXPORT_MSG_FIELDS.filter(
  (f) => f !== 'id',
);

type Check = { readonly label: string; readonly test: (m: ExportMsg) => boolean };

/**
 * Builds the filter stage: keeps the records every configured selector accepts (markers always
 * pass: they frame runs), counts the rest by the selector that dropped them, and re-encodes
 * records whose fields are redacted so `raw` never carries a dropped field. A record that
 * cannot be read or re-encoded is passed to `reject` (the pipeline sets it aside) when given.
 *
 * @example
 * ```ts
 * const filter = createRecordFilter({ eventTypes: [], enforcementActions: ['deny'], constraintKinds: [], namespaces: [], dropFields: ['resourceLabels'] }, metrics);
 * const kept = filter(batch);
 * ```
 */
export function createRecordFilter(cfg: FilterConfig, metrics: Metrics) {
  const checks: Check[] = [];
  const add = (label: string, values: readonly string[], get: (m: ExportMsg) => unknown) => {
    if (values.length === 0) return;
    const set = new Set(values);
    checks.push({ label, test: (m) => set.has(String(get(m) ?? '')) });
  };
  add('event_type', cfg.eventTypes, (m) => m.eventType);
  add('enforcement_action', cfg.enforcementActions, (m) => m.enforcementAction);
  add('constraint_kind', cfg.constraintKinds, (m) => m.kind);
  add('namespace', cfg.namespaces, (m) => m.resourceNamespace);
  const drop = cfg.dropFields;

  function redact(d: Delivery): Delivery {
    if (!drop.some((f) => d.msg[f] !== undefined)) return d;
    const msg: ExportMsg = { ...d.msg };
    for (const f of drop) delete msg[f];
    const redacted: Delivery = {
      key: d.key,
      source: d.source,
      channel: d.channel,
      run: d.run,
      line: d.line,
      raw: encodeExportMsg(msg),
      msg,
    };
    return d.marker ? { ...redacted, marker: d.marker } : redacted;
  }

  return function filter(
    batch: readonly Delivery[],
    reject?: (d: Delivery, err: unknown) => void,
  ): Delivery[] {
    if (checks.length === 0 && drop.length === 0) return batch as Delivery[];
    const out: Delivery[] = [];
    for (const d of batch) {
      try {
        if (!d.marker) {
          const failed = checks.find((c) => !c.test(d.msg));
          if (failed) {
            metrics.filtered.inc({ filter: failed.label });
            continue;
          }
        }
        out.push(drop.length === 0 || d.marker ? d : redact(d));
      } catch (err) {
        // One record's failure is that record's (it goes to the dead letter), not the batch's.
        if (!reject) throw err;
        reject(d, err);
      }
    }
    return out;
  };
}
