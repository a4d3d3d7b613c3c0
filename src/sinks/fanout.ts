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
export function createFanout(sinks: readonly Sink[]): Sink & { interrupt(): void; giveUp(): void } {
  if (sinks.length === 1) {
    const only = sinks[0]!;
    return {
      name: only.name,
      window: only.window,
      write: (b, hint) => only.write(b, hint),
      flush: () => only.flush?.(),
      giveUp: () => only.giveUp?.(),
      close: () => only.close(),
      interrupt: () => only.interrupt?.(),
    };
  }
  let closed: Promise<void> | undefined;
  return {
    name: sinks.map((s) => s.name).join('+'),
    window: Math.max(...sinks.map((s) => s.window ?? 1)),
    async write(batch, hint) {
      await Promise.all(sinks.map((s) => s.write(batch, hint)));
    },
    flush() {
      for (const s of sinks) s.flush?.();
    },
    interrupt() {
      for (const s of sinks) s.interrupt?.();
    },
    giveUp() {
      for (const s of sinks) s.giveUp?.();
    },
    close() {
      closed ??= Promise.all(sinks.map((s) => s.close())).then(() => undefined);
      return closed;
    },
  };
}
