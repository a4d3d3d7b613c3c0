#!/usr/bin/env -S node --max-semi-space-size=8
// A bounded young generation: the reader streams through short-lived buffers, and V8's default
// semi-spaces would hold ~100 MiB of that garbage; much smaller ones (2 MiB) promote each batch's
// lines to the old generation, where their read buffers wait for a full GC (measured: more CPU
// and a higher peak RSS than 8). The image's ENTRYPOINT sets the same flag.
import { CommanderError } from 'commander';
import { buildProgram } from './program.ts';

try {
  await buildProgram().parseAsync(process.argv);
} catch (err) {
  if (err instanceof CommanderError) {
    // Help and version exit 0; usage errors (unknown command/flag, bad value) exit 2.
    process.exitCode = err.exitCode === 0 ? 0 : 2;
  } else {
    process.stderr.write(`gk-export: ${(err as Error).message}\n`);
    process.exitCode = 1;
  }
}
