// Canonical encoder vs JSON.stringify on the same 1,000,000 records [target ≥ 0.6× the speed].
import { encodeExportMsg } from '../src/protocol/encode.ts';
import type { ExportMsg } from '../src/protocol/record.ts';
import { median, record } from './lib.ts';

const n = Math.round(1_000_000 * Number(process.env.BENCH_SCALE ?? 1));
const rounds = 5;
const records = Array.from({ length: n }, (_, i) => record('2026-01-01T00:00:00Z', i));
// The same records with their fields in another order than Go's (alphabetical): the encoder's
// general path, which rebuilds each record. (The headline's fields are in Go's order, but not
// their details' keys: a shallow copy with details sorted.)
const unordered = records.map(
  (r) => Object.fromEntries(Object.entries(r).sort(([a], [b]) => (a < b ? -1 : 1))) as ExportMsg,
);
let sink = 0;
const time = (rs: ExportMsg[], fn: (r: ExportMsg) => string) => {
  const t = performance.now();
  for (const r of rs) sink += fn(r).length;
  return (performance.now() - t) / 1000;
};
const stringifyOf = (r: ExportMsg) => JSON.stringify(r);
// Warm both up, then alternate them so that both see the same machine: the median of the
// per-round ratios is what is reported (a shared machine makes single rounds swing by 2×).
function compare(rs: ExportMsg[]) {
  time(rs, encodeExportMsg);
  time(rs, stringifyOf);
  const stringify: number[] = [];
  const encode: number[] = [];
  for (let i = 0; i < rounds; i++) {
    stringify.push(time(rs, stringifyOf));
    encode.push(time(rs, encodeExportMsg));
  }
  const ratios = stringify.map((s, i) => s / encode[i]!);
  return { stringifyS: median(stringify), encodeS: median(encode), ratio: median(ratios), ratios };
}
const list = (xs: number[]) => xs.map((r) => r.toFixed(2)).join(', ');
const inOrder = compare(records);
console.log(
  `encode ${n} records × ${rounds} rounds: JSON.stringify ${(n / inOrder.stringifyS).toFixed(0)} rec/s, encodeExportMsg ${(n / inOrder.encodeS).toFixed(0)} rec/s (medians)`,
);
console.log(
  `encodeExportMsg / JSON.stringify speed: ${inOrder.ratio.toFixed(2)}× median of [${list(inOrder.ratios)}] (target ≥ 0.6; Go-identical bytes)  [${sink}]`,
);
const other = compare(unordered);
console.log(
  `keys in non-Go order: JSON.stringify ${(n / other.stringifyS).toFixed(0)} rec/s, encodeExportMsg ${(n / other.encodeS).toFixed(0)} rec/s; speed ${other.ratio.toFixed(2)}× median of [${list(other.ratios)}]  [${sink}]`,
);
console.log(
  JSON.stringify({
    bench: 'encode',
    records: n,
    rounds,
    stringifyS: inOrder.stringifyS,
    encodeS: inOrder.encodeS,
    ratio: inOrder.ratio,
    ratios: inOrder.ratios,
    unorderedRatio: other.ratio,
    unorderedRatios: other.ratios,
  }),
);
