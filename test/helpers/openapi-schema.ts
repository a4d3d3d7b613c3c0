/**
 * The part of OpenAPI v3 structural-schema validation a CRD's `openAPIV3Schema` needs, as the
 * API server applies it: types, properties, required, enum, items, additionalProperties,
 * int32/int64 ranges. Unknown fields are errors (the server's `fieldValidation=Strict`),
 * except under `x-kubernetes-preserve-unknown-fields`.
 */
export interface Schema {
  type?: 'object' | 'array' | 'string' | 'integer' | 'number' | 'boolean';
  properties?: Record<string, Schema>;
  additionalProperties?: Schema | boolean;
  required?: string[];
  enum?: unknown[];
  items?: Schema;
  format?: string;
  'x-kubernetes-preserve-unknown-fields'?: boolean;
}

/** Every violation of `schema` by `value`, as `path: problem` lines (none when valid). */
export function validateSchema(schema: Schema, value: unknown, path = ''): string[] {
  const at = path || '<root>';
  const errors: string[] = [];
  const type = schema.type;
  if (value === null) return [`${at}: null is not allowed`];
  if (type === 'object') {
    if (typeof value !== 'object' || Array.isArray(value)) return [`${at}: not an object`];
    const obj = value as Record<string, unknown>;
    for (const req of schema.required ?? []) {
      if (!(req in obj)) errors.push(`${at}: required field ${req} missing`);
    }
    for (const [k, v] of Object.entries(obj)) {
      const sub = schema.properties?.[k];
      if (sub) errors.push(...validateSchema(sub, v, `${path}.${k}`));
      else if (typeof schema.additionalProperties === 'object') {
        errors.push(...validateSchema(schema.additionalProperties, v, `${path}.${k}`));
      } else if (schema.properties && !schema['x-kubernetes-preserve-unknown-fields']) {
        errors.push(`${path}.${k}: unknown field`);
      }
    }
  } else if (type === 'array') {
    if (!Array.isArray(value)) return [`${at}: not an array`];
    value.forEach((v, i) => {
      if (schema.items) errors.push(...validateSchema(schema.items, v, `${path}[${i}]`));
    });
  } else if (type === 'string') {
    if (typeof value !== 'string') return [`${at}: not a string`];
  } else if (type === 'integer') {
    if (!Number.isInteger(value)) return [`${at}: not an integer`];
    const n = value as number;
    if (schema.format === 'int32' && (n < -(2 ** 31) || n >= 2 ** 31)) {
      errors.push(`${at}: out of int32 range`);
    }
    if (!Number.isSafeInteger(n)) errors.push(`${at}: out of int64 range`);
  } else if (type === 'number') {
    if (typeof value !== 'number') return [`${at}: not a number`];
  } else if (type === 'boolean') {
    if (typeof value !== 'boolean') return [`${at}: not a boolean`];
  }
  if (schema.enum && !schema.enum.includes(value)) {
    errors.push(`${at}: ${JSON.stringify(value)} is not one of ${JSON.stringify(schema.enum)}`);
  }
  return errors;
}
