import { pino, type DestinationStream, type Logger } from 'pino';
import {
  gatekeeperLogFields,
  type ConstraintRef,
  type GatekeeperLogFields,
} from '../protocol/gatekeeper-log.ts';
import type { ExportMsg } from '../protocol/record.ts';

/**
 * The audit process's logger in Gatekeeper's schema (pino, JSON lines).
 *
 * @example
 * ```ts
 * const log = createAuditLogger();
 * log.auditStarted(id); log.violationAudited(v); log.constraintAudited(id, c, { violations: 3, action: 'deny' }); log.auditFinished(id, 1.2);
 * ```
 */
export function createAuditLogger(opts: { destination?: DestinationStream } = {}) {
  const logger: Logger = pino(
    {
      base: { logger: 'controller' },
      messageKey: 'msg',
      formatters: { level: (label) => ({ level: label }) },
      timestamp: () => `,"ts":${Date.now() / 1000}`,
    },
    opts.destination ?? pino.destination({ dest: 2, sync: true }),
  );
  const emit = (f: GatekeeperLogFields) => {
    const { msg, ...rest } = f;
    logger.info(rest, msg);
  };
  return {
    auditStarted: (auditId: string) => emit(gatekeeperLogFields.auditStarted(auditId)),
    constraintAudited: (
      auditId: string,
      c: ConstraintRef,
      r: { violations: number; action: string; status?: string },
    ) => emit(gatekeeperLogFields.constraintAudited(auditId, c, r)),
    violationAudited: (m: ExportMsg) => emit(gatekeeperLogFields.violationAudited(m)),
    auditFinished: (auditId: string, durationSeconds: number) =>
      emit(gatekeeperLogFields.auditFinished(auditId, durationSeconds)),
  };
}

export type AuditLogger = ReturnType<typeof createAuditLogger>;
