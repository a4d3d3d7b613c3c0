#!/usr/bin/env -S node --max-semi-space-size=2
// A bounded young generation: the reader streams through short-lived buffers, and V8's default
// semi-spaces would hold ~100 MiB of that garbage (the read buffers they point to are freed only
// when a scavenge finds them dead). With 256 KiB batches over a pool of 512 KiB reads, 2 MiB
// semi-spaces cost no measurable CPU over 4 MiB and take 4 MiB off the peak RSS (8: +6% CPU,
// +15 MiB).
// The image's ENTRYPOINT and `npm start` set the same flag. (Not `--expose-gc`: the idle reader's
// GC is exposed when first needed, see src/pipeline/idle-reclaim.ts; on the command line the
// flag cost ~9 ms of start-up.)
import { registerHooks } from 'node:module';

// This package's own relative imports resolve to the file they name, without Node's default
// realpath of every one: ~200 of them at start-up ran path.resolve often enough for TurboFan to
// compile it, and the optimizing compiler's pages (~5 MiB of the node binary) then stayed
// resident in every idle reader. Our files are never symlinks (the entry point itself is
// realpath'd by Node), so the URLs are the same; packages resolve as before (and only load
// hooks, not resolve hooks, registered earlier see our own files). Registered before anything
// else is imported, hence the dynamic imports below.
const base = new URL('./', import.meta.url).href;
registerHooks({
  resolve(specifier, context, nextResolve) {
    if (
      (specifier.startsWith('./') || specifier.startsWith('../')) &&
      context.parentURL?.startsWith(base) &&
      /\.[jt]s$/.test(specifier)
    ) {
      return { url: new URL(specifier, context.parentURL).href, shortCircuit: true };
    }
    return nextResolve(specifier, context);
  },
});
// Interpreter and baseline code only until there is bulk input: see optimizing-compilers.ts.
const { optimizingCompilers } = await import('./pipeline/optimizing-compilers.ts');
optimizingCompilers.startLean();
const { CommanderError } = await import('commander');
const { buildProgram } = await import('./program.ts');

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
