import { encodeExportMsg } from '../protocol/encode.ts';
import { EXPORT_MSG_FIELDS, type ExportMsg, type ExportMsgField } from '../protocol/record.ts';
import type { Delivery } from '../sinks/sink.ts';
import type { Metrics } from '../telemetry/index.ts';
import { ExportLine } from './decode-line.ts';
import { topLevelStrings } from './top-level-fields.ts';

/** Record selection and redaction, applied before the sinks. Empty lists select everything. */
export interface FilterConfig {
  readonly eventTypes: readonly string[];
  readonly enforcementActions: readonly string[];
  readonly constraintKinds: readonly string[];
  /**
   * Matched against the violating resource's namespace (`resourceNamespace`); `*` and `?` are
   * globs (`team-a-*`), which no namespace name can contain.
   */
  readonly namespaces: readonly string[];
  /** Constraint names (`name`); globs as for namespaces. */
  readonly constraintNames?: readonly string[];
  readonly dropFields: readonly ExportMsgField[];
}

/**
 * A matcher for a list of values where `*` (any run of characters) and `?` (one character)
 * are globs; values without them match exactly.
 *
 * @example
 * ```ts
 * globMatcher(['team-a-*', 'kube-system'])('team-a-web'); // true
 * ```
 */
export function globMatcher(values: readonly string[]): (v: string) => boolean {
  const exact = new Set(values.filter((v) => !/[*?]/.test(v)));
  const globs = values.filter((v) => /[*?]/.test(v));
  if (globs.length === 0) return (v) => exact.has(v);
  const escape = (g: string) =>
    g
      .replace(/[.+^${}()|[\]\\]/g, '\\$&')
      .replaceAll('*', '.*')
      .replaceAll('?', '.');
  const re = new RegExp(`^(?:${globs.map(escape).join('|')})$`, 's');
  return (v) => exact.has(v) || re.test(v);
}

/** Fields `--drop-field` may name: every ExportMsg field except the run id. */
export const DROPPABLE_FIELDS: readonly ExportMsgField[] = EXPORT_MSG_FIELDS.filter(
  (f) => f !== 'id',
);

type Check = { readonly label: string; readonly test: (get: Field) => boolean };
type Field = (f: ExportMsgField) => string;

/**
 * Builds the filter stage: keeps the records every configured selector accepts (markers always
 * pass: they frame runs), counts the rest by the selector that dropped them (and the `sink`
 * whose route it is, when given), and re-encodes records whose fields are redacted so `raw`
 * never carries a dropped field. A record that cannot be read or re-encoded is passed to
 * `reject` (the pipeline sets it aside) when given.
 *
 * @example
 * ```ts
 * const filter = createRecordFilter({ eventTypes: [], enforcementActions: ['deny'], constraintKinds: [], namespaces: [], dropFields: ['resourceLabels'] }, metrics);
 * const kept = filter(batch);
 * ```
 */
export function createRecordFilter(cfg: FilterConfig, metrics: Metrics, sink?: string) {
  const checks: Check[] = [];
  const fields: ExportMsgField[] = [];
  const add = (label: string, values: readonly string[], field: ExportMsgField) => {
    if (values.length === 0) return;
    const match = globMatcher(values);
    fields.push(field);
    checks.push({ label, test: (get) => match(get(field)) });
  };
  add('event_type', cfg.eventTypes, 'eventType');
  add('enforcement_action', cfg.enforcementActions, 'enforcementAction');
  add('constraint_kind', cfg.constraintKinds, 'kind');
  add('constraint_name', cfg.constraintNames ?? [], 'name');
  add('namespace', cfg.namespaces, 'resourceNamespace');
  /**
   * The record's selected fields: scanned from the line of a record read from a file (whose
   * record is parsed from that line only when asked for), else from the record.
   */
  const fieldsOf = (d: Delivery): Field => {
    const scanned = d instanceof ExportLine ? topLevelStrings(d.raw, fields) : undefined;
    if (scanned) return (f) => scanned.get(f) ?? '';
    return (f) => String(d.msg[f] ?? '');
  };
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
        if (!d.marker && checks.length > 0) {
          const get = fieldsOf(d);
          const failed = checks.find((c) => !c.test(get));
          if (failed) {
            metrics.filtered.inc(sink ? { filter: failed.label, sink } : { filter: failed.label });
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
