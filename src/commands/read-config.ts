import type { Command, Option } from 'commander';
import { isSeq } from 'yaml';
import { parseBool } from '../config/commander.ts';
import { parseByteSize } from '../config/byte-size.ts';
import { integer } from '../config/parsers.ts';
import { readYamlFile, type YamlFile, type YamlValue } from '../config/yaml-file.ts';
import { isGkExportError } from '../errors.ts';
import type { MaxLag } from '../reader/lanes/coordinator.ts';
import { DROPPABLE_FIELDS, type FilterConfig } from '../reader/filters.ts';
import { readerOptions, type ReaderConfig, type StdoutFormat } from '../reader/options.ts';
import type { ExportMsgField } from '../protocol/record.ts';
import { openReportsOptions, resolveOpenReportsConfig } from '../sinks/openreports/options.ts';
import { resolveWebhookConfig, webhookOptions } from '../sinks/webhook/options.ts';
import { SINK_TYPES, type SinkSpec, type SinkType } from './read-sinks.ts';

/** `read`'s options that are not reader settings of the file: per sink, or about the command. */
const NOT_TOP_LEVEL = new Set([
  'config',
  'checkConfig',
  'sink',
  'changesOnly',
  'eventType',
  'enforcementAction',
  'constraintKind',
  'namespace',
  'dropField',
]);
const isSinkOption = (attr: string) =>
  attr.startsWith('webhook') ||
  attr.startsWith('openreports') ||
  attr === 'onPermanentError' ||
  attr === 'clusterName';

/** A sink's own keys, besides those of its type. */
const COMMON_KEYS = ['name', 'type', 'route', 'dropFields', 'changesOnly', 'maxLag'] as const;
/** What a route selects on, and the record field each matches. */
const ROUTE_KEYS = [
  'namespaces',
  'constraintKinds',
  'constraintNames',
  'enforcementActions',
  'eventTypes',
] as const;
/** Sink names: they name files, metrics and log fields. */
const NAME = /^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/;

const lowerFirst = (s: string) => s.charAt(0).toLowerCase() + s.slice(1);

/** Each sink type's keys in the file, and the flag option that parses each. */
function sinkKeys(): Record<SinkType, Map<string, Option>> {
  const webhook = new Map<string, Option>();
  for (const o of webhookOptions()) {
    const attr = o.attributeName();
    const key =
      attr === 'webhookHeader'
        ? 'headers'
        : attr.startsWith('webhook')
          ? lowerFirst(attr.slice(7))
          : attr;
    webhook.set(key, o);
  }
  const openreports = new Map<string, Option>();
  for (const o of openReportsOptions()) openreports.set(lowerFirst(o.attributeName().slice(11)), o);
  const stdout = new Map<string, Option>();
  for (const o of readerOptions()) {
    if (o.attributeName() === 'format' || o.attributeName() === 'includeMarkers') {
      stdout.set(o.attributeName(), o);
    }
  }
  return { stdout, webhook, openreports };
}

/**
 * Reads `--config FILE` (YAML) into `read`'s settings. Top-level keys are the reader's settings
 * in camelCase (`root`, `stateDir`, `maxAuditResults`, …), each parsed by its flag's own parser,
 * and set only where neither a flag nor an environment variable set it (flag > env > file >
 * Connection > default). Returns the file's `sinks:` resolver when it has one. Any key that is
 * unknown, of the wrong type or with a bad value throws `ERR_INVALID_CONFIG` naming its key path
 * and line (`sinks[1].urll: unknown key … (config.yaml:7)`).
 *
 * @example
 * ```ts
 * const file = applyConfigFile(cmd, '/etc/gk-export/config.yaml');
 * const specs = file.sinks?.(resolveReaderConfig(cmd.opts()));
 * ```
 */
export function applyConfigFile(cmd: Command, path: string) {
  const file = readYamlFile(path);
  if (file.root.node === null)
    file.fail(file.root, 'the file is empty: give reader settings and sinks');
  const top = new Map<string, Option>();
  for (const o of cmd.options as readonly Option[]) {
    const attr = o.attributeName();
    if (!NOT_TOP_LEVEL.has(attr) && !isSinkOption(attr)) top.set(attr, o);
  }
  file.onlyKeys(file.root, [...top.keys(), 'sinks'], '');
  let sinks: YamlValue | undefined;
  for (const [key, v] of file.entries(file.root)) {
    if (key === 'sinks') {
      sinks = v;
      continue;
    }
    const value = parseWith(file, v, top.get(key)!);
    const source = cmd.getOptionValueSource(key);
    // An empty ROOT_PATH counts as unset, as it does without a file.
    const fromEnv = source === 'env' && !(key === 'root' && cmd.getOptionValue(key) === '');
    if (source === 'cli' || fromEnv) continue;
    cmd.setOptionValueWithSource(key, value, 'config');
  }
  if (sinks === undefined) return { sinks: undefined };
  const flagged = (attr: string) => {
    const s = cmd.getOptionValueSource(attr);
    return s === 'cli' || s === 'env';
  };
  for (const o of cmd.options as readonly Option[]) {
    const attr = o.attributeName();
    if ((attr === 'sink' || isSinkOption(attr)) && flagged(attr)) {
      file.fail(
        sinks,
        `${o.long}${o.envVar ? ` (${o.envVar})` : ''} is a setting of the command line's sinks: with sinks in the file, set it on the sink there`,
      );
    }
  }
  const list = sinks;
  return {
    /** The file's sinks, resolved against the reader's settings (their defaults). */
    sinks: (config: ReaderConfig): SinkSpec[] =>
      resolveSinks(file, list, {
        config,
        kubeconfig: cmd.getOptionValue('kubeconfig') as string | undefined,
        changesOnly: flagged('changesOnly')
          ? cmd.getOptionValue('changesOnly') === true
          : undefined,
      }),
  };
}

/** A value through its flag's parser: the same rules and messages as on the command line. */
function parseWith(file: YamlFile, v: YamlValue, option: Option): unknown {
  const parse = (raw: string | boolean, prev: unknown): unknown => {
    try {
      return option.parseArg ? option.parseArg(raw as string, prev) : raw;
    } catch (err) {
      if (
        !isGkExportError(err) &&
        (err as { code?: string }).code !== 'commander.invalidArgument'
      ) {
        throw err;
      }
      const message = (err as Error).message;
      return file.fail(
        v,
        message.includes(String(raw)) ? message : `invalid value ${String(raw)}: ${message}`,
      );
    }
  };
  const isBool = option.flags.includes('[bool]');
  const scalar = (item: YamlValue): string | boolean => {
    const s = file.scalar(item);
    if (typeof s === 'boolean' && !isBool) {
      file.fail(
        item,
        `wrong type: expected ${option.flags.split(' ')[1] ?? 'a value'}, found ${s}`,
      );
    }
    return typeof s === 'boolean' ? s : String(s);
  };
  if (isSeq(v.node)) {
    let acc: unknown;
    for (const item of file.items(v)) acc = parse(scalar(item), acc);
    if (!Array.isArray(acc)) file.fail(v, 'wrong type: expected a single value, found a list');
    return acc;
  }
  return parse(scalar(v), undefined);
}

interface SinkDefaults {
  readonly config: ReaderConfig;
  readonly kubeconfig?: string;
  /** `--changes-only` given as a flag or in the environment: it wins over the file. */
  readonly changesOnly?: boolean;
}

function resolveSinks(file: YamlFile, list: YamlValue, d: SinkDefaults): SinkSpec[] {
  const items = file.items(list);
  if (items.length === 0) file.fail(list, 'no sinks: list at least one, or leave sinks out');
  const keys = sinkKeys();
  const names = new Map<string, string>();
  let openreports: string | undefined;
  return items.map((item) => {
    const entries = new Map(file.entries(item));
    const name = entries.get('name');
    const type = entries.get('type');
    if (!name) return file.fail(item, 'a sink needs a name');
    if (!type) return file.fail(item, `a sink needs a type: ${SINK_TYPES.join(', ')}`);
    const n = String(file.scalar(name));
    if (!NAME.test(n)) {
      file.fail(
        name,
        `sink name ${JSON.stringify(n)} is not allowed: use lower-case letters, digits and '-' (at most 63, starting and ending with a letter or digit)`,
      );
    }
    if (names.has(n))
      file.fail(name, `duplicate sink name ${JSON.stringify(n)} (also ${names.get(n)})`);
    names.set(n, item.path);
    const t = file.scalar(type) as SinkType;
    if (!SINK_TYPES.includes(t))
      file.fail(type, `unknown sink type ${JSON.stringify(t)}; allowed: ${SINK_TYPES.join(', ')}`);
    if (t === 'openreports') {
      if (openreports)
        file.fail(
          type,
          `only one openreports sink (also ${openreports}): a run's reports are one set`,
        );
      openreports = item.path;
    }
    const own = keys[t];
    file.onlyKeys(item, [...COMMON_KEYS, ...own.keys()], `a ${t} sink`);
    const values: Record<string, unknown> = {};
    for (const [key, v] of entries) {
      const option = own.get(key);
      if (!option) continue;
      if (key === 'headers') {
        let acc: Record<string, string> | undefined;
        for (const [h, hv] of file.entries(v)) {
          acc = option.parseArg!(`${h}=${String(file.scalar(hv))}`, acc);
        }
        values[option.attributeName()] = acc ?? {};
      } else {
        values[option.attributeName()] = parseWith(file, v, option);
      }
    }
    const common = {
      name: n,
      route: routeOf(file, entries),
      changesOnly: false,
      ...(entries.has('maxLag') ? { maxLag: maxLagOf(file, entries.get('maxLag')!) } : {}),
    };
    const changes = entries.get('changesOnly');
    if (t === 'openreports') {
      if (changes)
        file.fail(
          changes,
          'changesOnly is for record sinks (stdout, webhook): OpenReports always takes whole runs',
        );
      return {
        ...common,
        type: t,
        openreports: resolveOpenReportsConfig({ ...values, kubeconfig: d.kubeconfig }),
      };
    }
    const changesOnly =
      d.changesOnly ?? (changes ? (parseWith(file, changes, boolLike) as boolean) : false);
    if (t === 'stdout') {
      return {
        ...common,
        changesOnly,
        type: t,
        format: (values.format as StdoutFormat | undefined) ?? d.config.format,
        includeMarkers: (values.includeMarkers as boolean | undefined) ?? d.config.includeMarkers,
      };
    }
    return { ...common, changesOnly, type: t, webhook: webhookOf(file, item, entries, values) };
  });
}

/** A stand-in option for `changesOnly`: parsed as every boolean setting is. */
const boolLike = { flags: '--changes-only [bool]', parseArg: parseBool } as unknown as Option;

function webhookOf(
  file: YamlFile,
  item: YamlValue,
  entries: Map<string, YamlValue>,
  values: Record<string, unknown>,
) {
  const url = entries.get('url');
  if (!url) return file.fail(item, 'a webhook sink needs url: the receiver, http:// or https://');
  let parsed: URL | undefined;
  try {
    parsed = new URL(String(values.webhookUrl));
  } catch {
    parsed = undefined;
  }
  if (!parsed || (parsed.protocol !== 'http:' && parsed.protocol !== 'https:')) {
    file.fail(url, 'not an http:// or https:// URL');
  }
  const cert = entries.get('certFile');
  const key = entries.get('keyFile');
  if ((cert === undefined) !== (key === undefined)) {
    file.fail((cert ?? key)!, 'certFile and keyFile go together (mTLS)');
  }
  try {
    return resolveWebhookConfig(values);
  } catch (err) {
    if (!isGkExportError(err)) throw err;
    return file.fail(item, err.message);
  }
}

function routeOf(file: YamlFile, entries: Map<string, YamlValue>): FilterConfig | undefined {
  const route = entries.get('route');
  const drop = entries.get('dropFields');
  if (!route && !drop) return undefined;
  const lists: Record<(typeof ROUTE_KEYS)[number], string[]> = {
    namespaces: [],
    constraintKinds: [],
    constraintNames: [],
    enforcementActions: [],
    eventTypes: [],
  };
  if (route) {
    file.onlyKeys(route, ROUTE_KEYS, 'a route');
    for (const [key, v] of file.entries(route)) lists[key as keyof typeof lists] = file.strings(v);
  }
  const dropFields: ExportMsgField[] = [];
  for (const v of drop ? file.items(drop) : []) {
    const f = file.scalar(v);
    if (!DROPPABLE_FIELDS.includes(f as ExportMsgField)) {
      file.fail(
        v,
        `${JSON.stringify(f)} is not a field that can be dropped; allowed: ${DROPPABLE_FIELDS.join(', ')}`,
      );
    }
    dropFields.push(f as ExportMsgField);
  }
  return { ...lists, dropFields };
}

function maxLagOf(file: YamlFile, v: YamlValue): MaxLag {
  file.onlyKeys(v, ['runs', 'bytes'], 'maxLag');
  const out: { runs?: number; bytes?: number } = {};
  for (const [key, item] of file.entries(v)) {
    const s = String(file.scalar(item));
    // The setting parsers of src/config/, as every flag uses them.
    try {
      if (key === 'runs') out.runs = integer(1)(s);
      else out.bytes = parseByteSize(s);
    } catch (err) {
      if (!isGkExportError(err, 'ERR_INVALID_SETTING')) throw err;
      file.fail(item, `invalid value ${s}: ${err.message}`);
    }
  }
  if (out.runs === undefined && out.bytes === undefined) file.fail(v, 'give runs, bytes or both');
  return out;
}
