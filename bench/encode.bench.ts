// Canonical encoder vs JSON.stringify on the same 1,000,000 records [target ≥ 0.5× the speed].
import { encodeExportMsg } from '../src/protocol/encode.ts';
import { record } from './lib.ts';

const n = Math.round(1_000_000 * Number(process.env.BENCH_SCALE ?? 1));
const records = Array.from({ length: n }, (_, i) => record('2026-01-01T00:00:00Z', i));
let sink = 0;
const time = (fn: (r: (typeof records)[number]) => string) => {
  const t = performance.now();
  for (const r of records) sink += fn(r).length;
  return (performance.now() - t) / 1000;
};
// Warm both up, then measure.
time(encodeExportMsg);
time((r) => JSON.stringify(r));
const stringifyS = time((r) => JSON.stringify(r));
const encodeS = time(encodeExportMsg);
const ratio = stringifyS / encodeS;
console.log(
  `encode ${n} records: JSON.stringify ${(n / stringifyS).toFixed(0)} rec/s, encodeExportMsg ${(n / encodeS).toFixed(0)} rec/s`,
);
console.log(
  `encodeExportMsg / JSON.stringify speed: ${ratio.toFixed(2)}× (target ≥ 0.5; Go-identical bytes)  [${sink}]`,
);
console.log(JSON.stringify({ bench: 'encode', records: n, stringifyS, encodeS, ratio }));
