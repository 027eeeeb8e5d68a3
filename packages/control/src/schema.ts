import { Ajv, type ErrorObject, type ValidateFunction } from 'ajv';
import addFormatsModule from 'ajv-formats';
import { invalid } from './errors.ts';

/**
 * Every operation's input has one JSON schema: the API's route schema (its documentation, checked by
 * Fastify before the operation runs) and the check the operation itself makes for every other caller
 * (the CLI), so both refuse the same input with the same code, `invalid_request`. Values are checked as
 * given, never coerced: adapters pass typed values (the CLI turns `--ttl 60` into the number 60).
 */
const ajv = new Ajv({ coerceTypes: false, removeAdditional: false, useDefaults: false, strict: false });
// ajv-formats is CommonJS: its default export arrives as the module or as `{ default }`.
const addFormats = ((addFormatsModule as unknown as { default?: unknown }).default ?? addFormatsModule) as (
  a: Ajv,
) => void;
addFormats(ajv);

const compiled = new WeakMap<object, ValidateFunction>();

function field(error: ErrorObject): string {
  const path = error.instancePath.replace(/^\//, '').replaceAll('/', '.');
  return path === '' ? 'input' : `"${path}"`;
}

const TYPE_NAMES: Record<string, string> = {
  string: 'a string',
  number: 'a number',
  integer: 'a whole number',
  boolean: 'true or false',
  object: 'an object',
  array: 'a list',
  null: 'null',
};

/** One line for the first broken rule, e.g. `"mode" must be "text" or "color"`. */
export function describe(error: ErrorObject): string {
  const p = error.params as Record<string, unknown>;
  switch (error.keyword) {
    case 'enum': {
      const values = (p.allowedValues as unknown[]).map((v) => JSON.stringify(v));
      const list =
        values.length <= 2
          ? values.join(' or ')
          : `one of ${values.slice(0, -1).join(', ')} or ${values.at(-1)}`;
      return `${field(error)} must be ${list}`;
    }
    case 'type': {
      const types = ([] as string[]).concat(p.type as string | string[]);
      return `${field(error)} must be ${types.map((t) => TYPE_NAMES[t] ?? t).join(' or ')}`;
    }
    case 'required':
      return `"${[error.instancePath.replace(/^\//, '').replaceAll('/', '.'), p.missingProperty].filter(Boolean).join('.')}" is required`;
    case 'additionalProperties':
      return `unknown field "${String(p.additionalProperty)}"`;
    default:
      return `${field(error)} ${error.message ?? 'is not valid'}`;
  }
}

/** Throws 400 `invalid_request` unless `input` matches `schema` (compiled once per schema object). */
export function check<T>(schema: object, input: unknown): T {
  let validate = compiled.get(schema);
  if (!validate) {
    validate = ajv.compile(schema);
    compiled.set(schema, validate);
  }
  if (!validate(input)) throw invalid('invalid_request', describe(validate.errors![0]!));
  return input as T;
}

/** The input without its undefined fields (an adapter's unset options), for `check`. */
export function defined<T>(input: T): T {
  if (typeof input !== 'object' || input === null || Array.isArray(input)) return input;
  return Object.fromEntries(Object.entries(input).filter(([, v]) => v !== undefined)) as T;
}
