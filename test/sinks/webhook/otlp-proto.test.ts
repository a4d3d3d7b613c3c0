import { fileURLToPath } from 'node:url';
import protobuf from 'protobufjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { formatSpec } from '../../../src/sinks/webhook/formats.ts';
import { deliveriesOf, violation } from '../../helpers/runs.ts';

// The OTLP protobuf definitions (open-telemetry/opentelemetry-proto, Apache-2.0), loaded by
// protobufjs: an independent reading of what an OTLP/HTTP JSON logs request may contain.
const PROTO_DIR = fileURLToPath(new URL('../../fixtures/otlp-proto/', import.meta.url));
const REQUEST = 'opentelemetry.proto.collector.logs.v1.ExportLogsServiceRequest';

const INT64 = new Set(['int64', 'uint64', 'sint64', 'fixed64', 'sfixed64']);
const INT32 = new Set(['int32', 'uint32', 'sint32', 'fixed32', 'sfixed32']);

/**
 * The OTLP/JSON rules (protobuf JSON mapping as OTLP restricts it): lowerCamelCase field
 * names only, 64-bit integers as decimal strings, enums as integers, at most one member of a
 * oneof, nothing the definitions do not have. Returns the problems, each with its path.
 */
function otlpJsonProblems(type: protobuf.Type, value: unknown, path = '$'): string[] {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    return [`${path}: expected a ${type.name} object`];
  }
  const problems: string[] = [];
  for (const [key, v] of Object.entries(value)) {
    const field = type.fields[key];
    if (!field) {
      problems.push(`${path}.${key}: no such field in ${type.name}`);
      continue;
    }
    const items = field.repeated ? v : [v];
    if (field.repeated && !Array.isArray(v)) {
      problems.push(`${path}.${key}: expected an array`);
      continue;
    }
    (items as unknown[]).forEach((item, i) => {
      const at = field.repeated ? `${path}.${key}[${i}]` : `${path}.${key}`;
      const t = field.resolve().resolvedType;
      if (t instanceof protobuf.Type) problems.push(...otlpJsonProblems(t, item, at));
      else if (t instanceof protobuf.Enum) {
        if (!Number.isInteger(item) || !Object.values(t.values).includes(item as number)) {
          problems.push(
            `${at}: expected an integer of enum ${t.name}, got ${JSON.stringify(item)}`,
          );
        }
      } else if (INT64.has(field.type)) {
        if (typeof item !== 'string' || !/^-?\d+$/.test(item)) {
          problems.push(`${at}: expected a 64-bit integer as a decimal string`);
        }
      } else if (INT32.has(field.type)) {
        if (!Number.isInteger(item)) problems.push(`${at}: expected an integer`);
      } else if (field.type === 'string') {
        if (typeof item !== 'string') problems.push(`${at}: expected a string`);
      } else if (field.type === 'bool') {
        if (typeof item !== 'boolean') problems.push(`${at}: expected a boolean`);
      } else if (field.type === 'double' || field.type === 'float') {
        if (typeof item !== 'number') problems.push(`${at}: expected a number`);
      } else if (field.type === 'bytes') {
        if (typeof item !== 'string') problems.push(`${at}: expected base64 or hex bytes`);
      }
    });
  }
  for (const oneof of type.oneofsArray) {
    const set = oneof.oneof.filter((k) => (value as Record<string, unknown>)[k] !== undefined);
    if (set.length > 1) problems.push(`${path}: ${set.join(' and ')} are one of ${oneof.name}`);
  }
  return problems;
}

function withoutEmptyArrays(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(withoutEmptyArrays);
  if (typeof v !== 'object' || v === null) return v;
  return Object.fromEntries(
    Object.entries(v)
      .filter(([, x]) => !(Array.isArray(x) && x.length === 0))
      .map(([k, x]) => [k, withoutEmptyArrays(x)]),
  );
}

const ID = '2026-01-01T00:00:00Z';
function deliveries() {
  return deliveriesOf([
    violation(ID, 0),
    violation(ID, 1, {
      enforcementAction: 'dryrun',
      details: { n: 3, ratio: 0.5, ok: true, none: null, list: ['a', { b: 'c' }], nested: {} },
    }),
    violation(ID, 2, { enforcementAction: 'warn', resourceNamespace: '', details: undefined }),
  ]);
}

describe('OTLP/HTTP JSON against the OTLP protobuf definitions', () => {
  let request: protobuf.Type;
  beforeAll(async () => {
    const root = new protobuf.Root();
    root.resolvePath = (_origin, target) => PROTO_DIR + target;
    await root.load('opentelemetry/proto/collector/logs/v1/logs_service.proto');
    request = root.lookupType(REQUEST);
  });

  it('is a valid ExportLogsServiceRequest that survives a binary round trip', () => {
    const body = JSON.parse(
      String(formatSpec('otlp', { clusterName: 'prod', host: 'h' }).encode(deliveries()).body),
    );
    expect(otlpJsonProblems(request, body)).toEqual([]);
    // protobufjs accepts it, encodes it to the wire format and decodes it back unchanged.
    const message = request.fromObject(body);
    expect(request.verify(message)).toBeNull();
    const back = request.toObject(request.decode(request.encode(message).finish()), {
      longs: String,
      enums: Number,
    });
    // (An empty repeated field and an absent one are the same message.)
    expect(back).toEqual(withoutEmptyArrays(body));
    const records = back.resourceLogs[0].scopeLogs[0].logRecords;
    expect(records).toHaveLength(3);
    expect(records.map((r: { severityNumber: number }) => r.severityNumber)).toEqual([13, 9, 13]);
  });

  it('the check itself finds what a receiver would refuse', () => {
    const body = JSON.parse(
      String(formatSpec('otlp', { clusterName: 'prod', host: 'h' }).encode(deliveries()).body),
    );
    const record = body.resourceLogs[0].scopeLogs[0].logRecords[0];
    record.severityNumber = 'SEVERITY_NUMBER_WARN';
    record.timeUnixNano = 1767225600000000000;
    record.body = { stringValue: 'x', intValue: '1' };
    record.attributes[0].val = record.attributes[0].value;
    const problems = otlpJsonProblems(request, body);
    expect(problems).toHaveLength(4);
    expect(problems).toEqual(
      expect.arrayContaining([
        expect.stringContaining('timeUnixNano: expected a 64-bit integer'),
        expect.stringContaining('severityNumber: expected an integer of enum'),
        expect.stringContaining('attributes[0].val: no such field'),
        expect.stringContaining('body: stringValue and intValue are one of value'),
      ]),
    );
  });
});
