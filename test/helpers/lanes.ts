import { GkExportError } from '../../src/errors.ts';
import { runReader, type LaneSpec } from '../../src/reader/index.ts';
import { resolveReaderConfig, type ReaderConfig } from '../../src/reader/options.ts';
import type { Delivery, Sink } from '../../src/sinks/sink.ts';
import { capturingTelemetry } from './reader.ts';

/**
 * A sink that holds every write until `release()` (a receiver that is down); `interrupt()`
 * rejects the held writes as a sink stopped while retrying does. `opened` counts how often its
 * lane opened it (a lane that releases runs past its maxLag opens it again).
 */
export function heldSink(name: string) {
  const got: Delivery[] = [];
  const held: { batch: readonly Delivery[]; resolve: () => void; reject: (e: Error) => void }[] =
    [];
  let up = false;
  let opened = 0;
  const open = async (): Promise<Sink & { interrupt(): void }> => {
    opened += 1;
    let interrupted = false;
    return {
      name,
      write(batch) {
        if (interrupted) return Promise.reject(new GkExportError('ERR_SINK_INTERRUPTED', 'x'));
        if (up) {
          got.push(...batch);
          return Promise.resolve();
        }
        return new Promise<void>((resolve, reject) => held.push({ batch, resolve, reject }));
      },
      interrupt() {
        interrupted = true;
        for (const h of held.splice(0)) {
          h.reject(new GkExportError('ERR_SINK_INTERRUPTED', 'stopped while retrying'));
        }
      },
      async close() {},
    };
  };
  return {
    open,
    got,
    violations: () => got.filter((d) => !d.marker),
    opened: () => opened,
    /** The receiver is back: held writes and every later one go through. */
    release() {
      up = true;
      for (const h of held.splice(0)) {
        got.push(...h.batch);
        h.resolve();
      }
    },
  };
}

/** A sink that takes everything at once. */
export function takingSink(name: string) {
  const got: Delivery[] = [];
  const sink: Sink = {
    name,
    async write(batch) {
      got.push(...batch);
    },
    async close() {},
  };
  return { open: async () => sink, got, violations: () => got.filter((d) => !d.marker) };
}

/** A sink whose receiver refuses every batch for good (its lane stops at the first one). */
export function brokenSink(name: string): LaneSpec {
  const sink: Sink = {
    name,
    write: () => Promise.reject(new GkExportError('ERR_SINK_PERMANENT', 'receiver said 400')),
    close: async () => {},
  };
  return { name, open: async () => sink };
}

/** Runs the reader in this process with several lanes until `stop()`. */
export function startLanes(
  root: string,
  stateDir: string,
  lanes: LaneSpec[],
  over: Partial<ReaderConfig> = {},
) {
  const config = { ...resolveReaderConfig({ root, stateDir, pollInterval: 100 }), ...over };
  const telemetry = capturingTelemetry();
  const ac = new AbortController();
  const done = runReader(config, { lanes, telemetry }, ac.signal);
  done.catch(() => undefined);
  return {
    telemetry,
    done,
    stop: async () => {
      ac.abort();
      await done;
    },
  };
}
