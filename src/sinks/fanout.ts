import type { Sink } from './sink.ts';

/**
 * Sends every batch to all sinks; the batch is acknowledged once every sink has it (a sink
 * that fails rejects the whole batch, which is then delivered again after a restart).
 *
 * @example
 * ```ts
 * const sink = createFanout([stdout, webhook]);
 * ```
 */
export function createFanout(
  sinks: readonly (Sink & { interrupt?(): void })[],
): Sink & { interrupt(): void } {
  if (sinks.length === 1) {
    const only = sinks[0]!;
    return {
      name: only.name,
      write: (b) => only.write(b),
      close: () => only.close(),
      interrupt: () => only.interrupt?.(),
    };
  }
  let closed: Promise<void> | undefined;
  return {
    name: sinks.map((s) => s.name).join('+'),
    async write(batch) {
      await Promise.all(sinks.map((s) => s.write(batch)));
    },
    interrupt() {
      for (const s of sinks) s.interrupt?.();
    },
    close() {
      closed ??= Promise.all(sinks.map((s) => s.close())).then(() => undefined);
      return closed;
    },
  };
}
