// Runs every bench/*.bench.ts in turn (each in its own process, on this Node) and prints
// each one's summary line at the end.
import { spawn } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const dir = fileURLToPath(new URL('.', import.meta.url));
const only = process.argv[2];
const benches = readdirSync(dir)
  .filter((f) => f.endsWith('.bench.ts') && (!only || f.includes(only)))
  .sort();
const summaries: string[] = [];
for (const b of benches) {
  console.log(`\n=== ${b}`);
  let last = '';
  const code = await new Promise<number | null>((resolve) => {
    const p = spawn(process.execPath, [dir + b], { stdio: ['ignore', 'pipe', 'inherit'] });
    p.stdout.setEncoding('utf8').on('data', (s: string) => {
      process.stdout.write(s);
      const lines = s.trim().split('\n');
      last = lines[lines.length - 1] ?? last;
    });
    p.on('close', resolve);
  });
  summaries.push(code === 0 ? last : JSON.stringify({ bench: b, failed: code }));
}
console.log('\n=== summary');
for (const s of summaries) console.log(s);
