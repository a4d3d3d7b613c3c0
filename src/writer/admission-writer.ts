import { randomBytes } from 'node:crypto';
import { chmod, rename } from 'node:fs/promises';
import { join } from 'node:path';
import { fsyncDir } from '../durable-fs.ts';
import { GkExportError } from '../errors.ts';
import { encodeExportMsg } from '../protocol/encode.ts';
import { assertValidName } from '../protocol/names.ts';
import type { ExportMsg } from '../protocol/record.ts';
import { resolveWriterConfig } from './config.ts';
import { openLineFile, type LineFile } from './line-file.ts';

/** Options of the admission segment writer. */
export interface AdmissionWriterOptions {
  readonly root: string;
  readonly channel: string;
  /** Rotate when a segment reaches this many bytes. Default 1 MiB. */
  readonly maxBytes?: number;
  /** Rotate after this many records. Default 1,000. */
  readonly maxRecords?: number;
  /** Rotate a segment this old. Default 60 s. */
  readonly maxAgeMs?: number;
}

/** Writes `violation_admission` records into rotating segments. */
export interface AdmissionWriter {
  write(msg: ExportMsg): Promise<void>;
  /** Completes the current segment now (renamed to `.log`), if it has records. */
  rotate(): Promise<void>;
  /** Completes the current segment and stops; idempotent. */
  close(): Promise<void>;
}

/** The segment name for an instant: sortable, so "oldest first" is "by name". */
export function admissionSegmentName(date: Date, hex = randomBytes(4).toString('hex')): string {
  return `admission-${date.toISOString().replaceAll(':', '_')}-${hex}`;
}

/**
 * Creates an admission segment writer: `admission-<UTC ts>-<hex>.open`, held with LOCK_EX,
 * completed (fsync, unlock, rename to `.log`, chmod 0666) at `maxBytes`, `maxRecords` or
 * `maxAgeMs`, whichever comes first.
 *
 * @example
 * ```ts
 * const w = createAdmissionWriter({ root: '/tmp/violations/topics', channel: 'admission' });
 * await w.write(record); await w.close();
 * ```
 */
export function createAdmissionWriter(opts: AdmissionWriterOptions): AdmissionWriter {
  const config = resolveWriterConfig({ root: opts.root });
  assertValidName('channel', opts.channel);
  const maxBytes = opts.maxBytes ?? 1024 * 1024;
  const maxRecords = opts.maxRecords ?? 1000;
  const maxAgeMs = opts.maxAgeMs ?? 60_000;
  for (const [k, v] of Object.entries({ maxBytes, maxRecords, maxAgeMs })) {
    if (!Number.isInteger(v) || v <= 0) {
      throw new GkExportError(
        'ERR_INVALID_CONFIG',
        `${k} ${v} is not allowed: use a positive integer`,
      );
    }
  }
  const dir = join(config.root, opts.channel);
  let current: { file: LineFile; name: string; timer: NodeJS.Timeout } | undefined;
  let chain: Promise<void> = Promise.resolve();
  let closed: Promise<void> | undefined;

  // Operations are serialised so rotation never races a write.
  const serial = (step: () => Promise<void>) => (chain = chain.then(step));

  async function complete(): Promise<void> {
    const seg = current;
    if (!seg) return;
    current = undefined;
    clearTimeout(seg.timer);
    await seg.file.seal();
    const done = join(dir, `${seg.name}.log`);
    await rename(seg.file.path, done);
    await chmod(done, 0o666);
    await fsyncDir(dir);
  }

  return {
    write(msg) {
      if (closed) {
        return Promise.reject(
          new GkExportError('ERR_WRITER_CLOSED', 'the admission writer is closed'),
        );
      }
      const line = encodeExportMsg(msg);
      return serial(async () => {
        if (!current) {
          const name = admissionSegmentName(new Date());
          const file = await openLineFile(dir, join(dir, `${name}.open`), config);
          const timer = setTimeout(() => void serial(complete).catch(() => undefined), maxAgeMs);
          timer.unref();
          current = { file, name, timer };
        }
        await current.file.append(line);
        if (current.file.lines >= maxRecords || current.file.bytes >= maxBytes) await complete();
      });
    },
    rotate() {
      return serial(complete);
    },
    close() {
      closed ??= serial(complete);
      return closed;
    },
  };
}
