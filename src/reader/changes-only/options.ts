import { Option } from 'commander';
import { parseBool } from '../options.ts';

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
    new Option(
      '--changes-only [bool]',
      'audit runs: send only new violations, and a violation_resolved record per violation gone since the previous run',
    )
      .env('GK_EXPORT_CHANGES_ONLY')
      .preset(true)
      .default(false)
      .argParser(parseBool),
  ];
}
