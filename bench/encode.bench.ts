// Canonical encoder vs JSON.stringify on the same 1,000,000 records [target ≥ 0.5× the speed].
import { encodeExportMsg } from '../src/protocol/encode.ts';
import { record } from './lib.ts';

const n = Math.round(1_000_000 * Number(process.env.BENCH_SCALE ?? 1));
const rounds = 5;
const records = Array.from({ length: n }, (_, i) => record('2026-01-01T00:00:00Z', i));
let sink = 0;
const time = (fn: (r: (typeof records)[number]) => string) => {
  const t = performance.now();
  for (const r of records) sink += fn(r).length;
  return (performance.now() - t) / 1000;
};
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[xs.length >> 1]!;
// Warm both up, then alternate them so that both see the same machine: the median of the
// per-round ratios is what is reported (a shared machine makes single rounds swing by 2×).
time(encodeExportMsg);
time((r) => JSON.stringify(r));
const stringify: number[] = [];
const encode: number[] = [];
for (let i = 0; i < rounds; i++) {
  stringify.push(time((r) => JSON.stringify(r)));
  encode.push(time(encodeExportMsg));
}
const ratios = stringify.map((s, i) => s / encode[i]!);
const ratio = median(ratios);
const stringifyS = median(stringify);
const encodeS = median(encode);
console.log(
  `encode ${n} records × ${rounds} rounds: JSON.stringify ${(n / stringifyS).toFixed(0)} rec/s, encodeExportMsg ${(n / encodeS).toFixed(0)} rec/s (medians)`,
);
console.log(
  `encodeExportMsg / JSON.stringify speed: ${ratio.toFixed(2)}× median of [${ratios.map((r) => r.toFixed(2)).join(', ')}] (target ≥ 0.5; Go-identical bytes)  [${sink}]`,
);
console.log(
  JSON.stringify({ bench: 'encode', records: n, rounds, stringifyS, encodeS, ratio, ratios }),
);
