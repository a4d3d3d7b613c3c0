import type { Option } from 'commander';
import { boolOption } from '../../config/commander.ts';

/**
 * `--changes-only [bool]` (env `GK_EXPORT_CHANGES_ONLY`): for audit runs, send only what
 * changed since the channel's previous completed run.
 *
 * @example
 * ```ts
 * for (const o of changesOnlyOptions()) command.addOption(o);
 * ```
 */
export function changesOnlyOptions(): Option[] {
  return [
    boolOption(
      '--changes-only',
      'audit runs: send only new violations, and a violation_resolved record per violation gone since the previous run',
      { env: 'GK_EXPORT_CHANGES_ONLY', default: false },
    ),
  ];
}
