import { GkExportError, type DiskWriterErrorCode } from '../errors.ts';
import { AUDIT_COMPLETED, AUDIT_STARTED, assertValidName } from '../protocol/names.ts';
import type { ExportMsg } from '../protocol/record.ts';
import { startAuditRun, type AuditRun } from './audit-run.ts';
import { resolveWriterConfig, type DiskWriterOptions } from './config.ts';

/** A Gatekeeper-compatible disk-export writer, embedded in an audit process. */
export interface DiskWriter {
  /**
   * Gatekeeper's `Publish` semantics: the "audit is started" message opens a run on the
   * channel, violations append to it, "audit is completed" closes it.
   */
  publish(channel: string, msg: ExportMsg): Promise<void>;
  /** Direct API: opens a run (error if one is already open on the channel). */
  startRun(channel: string, auditId: string): Promise<AuditRun>;
  /** Aborts runs still open (their `.txt` is removed) and refuses further use; idempotent. */
  close(): Promise<void>;
}

/**
 * Creates a disk writer that produces exactly what Gatekeeper's Go disk driver produces.
 *
 * @example
 * ```ts
 * const w = createDiskWriter({ root: '/tmp/violations/topics', maxAuditResults: 3 });
 * await w.publish('audit-channel', { id, message: 'audit is started' });
 * await w.publish('audit-channel', violation);
 * await w.publish('audit-channel', { id, message: 'audit is completed' });
 * ```
 */
export function createDiskWriter(opts: DiskWriterOptions): DiskWriter {
  const config = resolveWriterConfig(opts);
  const open = new Map<string, AuditRun>();
  // A run being opened counts as open, so two concurrent starts cannot both succeed.
  const opening = new Set<string>();
  let closed: Promise<void> | undefined;

  function refuseIfClosed(): void {
    if (closed) {
      throw new GkExportError<DiskWriterErrorCode>(
        'ERR_WRITER_CLOSED',
        'the disk writer is closed',
      );
    }
  }

  async function startRun(channel: string, auditId: string): Promise<AuditRun> {
    refuseIfClosed();
    assertValidName('channel', channel);
    if (open.has(channel) || opening.has(channel)) {
      throw new GkExportError<DiskWriterErrorCode>(
        'ERR_RUN_ALREADY_OPEN',
        `channel ${channel} already has an open run (${open.get(channel)?.auditId ?? 'starting'}); complete or abort it first`,
      );
    }
    opening.add(channel);
    try {
      const run = await startAuditRun(config, channel, auditId, () => {
        if (open.get(channel) === run) open.delete(channel);
      });
      open.set(channel, run);
      return run;
    } finally {
      opening.delete(channel);
    }
  }

  return {
    startRun,
    async publish(channel, msg) {
      refuseIfClosed();
      const marker = msg.eventType ? undefined : msg.message;
      if (marker === AUDIT_STARTED) {
        await startRun(channel, msg.id ?? '');
        return;
      }
      const run = open.get(channel);
      if (!run) {
        throw new GkExportError<DiskWriterErrorCode>(
          'ERR_NO_OPEN_RUN',
          `no open run on channel ${channel}: publish "${AUDIT_STARTED}" first`,
        );
      }
      if (marker === AUDIT_COMPLETED) await run.complete();
      else await run.write(msg);
    },
    close() {
      closed ??= Promise.all([...open.values()].map((r) => r.abort())).then(() => undefined);
      return closed;
    },
  };
}
