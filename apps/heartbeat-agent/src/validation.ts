/**
 * The agent's input validation: small declarative schemas (schemas.ts, config.ts) checked by one
 * interpreter, with the rules and the messages of the class-validator decorators they replace, so
 * operators read the same words as from the orchestrator's API. Not class-validator itself: with
 * class-transformer, reflect-metadata, validator.js and libphonenumber it cost the agent ~14 MB of
 * its ~60 MB; ajv ~10 MB. This costs nothing to load and checks a 1,000-scenario answer in < 1 ms.
 *
 * Rules as class-validator applies them: a property not marked `optional` is required (missing, it
 * fails its type check: "x must be a string"); an optional one may be absent or null (IsOptional);
 * the first failure in declaration order is reported, type before range; unknown keys are
 * refused (requests, config) or ignored (answers), reported before any other error of their object.
 */
import { checkJsonLimits } from '@ha/contracts/json-limits';
import { BodyValidationError } from './errors';

interface Common {
  /** May be absent or null (class-validator's IsOptional). */
  optional?: boolean;
}

export type Schema = Common &
  (
    | {
        type: 'string';
        /** '' refused with "should not be empty" (IsNotEmpty) */
        notEmpty?: boolean;
        minLength?: number;
        maxLength?: number;
      }
    /** a string matching `pattern`; anything else gets `message` (Matches with a message) */
    | { type: 'pattern'; pattern: RegExp; message: string }
    /** IsUUID(): versions 1-8, nil and max, any case */
    | { type: 'uuid' }
    /** IsUrl({ require_tld: false, require_protocol: true, protocols: ['http', 'https'] }) */
    | { type: 'http-url' }
    | { type: 'integer'; minimum?: number; maximum?: number }
    | { type: 'number'; minimum?: number; maximum?: number }
    | { type: 'boolean' }
    | { type: 'enum'; values: readonly string[] }
    | {
        type: 'array';
        items: Schema;
        minItems?: number;
        maxItems?: number;
        /** Any item's failure reported on the array with this message (a decorator's `each` + message). */
        itemsMessage?: string;
      }
    | { type: 'object'; properties: Record<string, Schema> }
    /** any mapping (IsObject): its entries are checked by the caller */
    | { type: 'map' }
  );

export type ObjectSchema = Extract<Schema, { type: 'object' }>;

export interface ValidateOptions {
  /** Refuse unknown properties (requests, config); answers only ignore them. Default true. */
  forbidUnknown?: boolean;
  /** Path prefix used in error messages, e.g. 'actions.promote'. */
  path?: string;
}

interface Failure {
  field: string;
  message: string;
}

/**
 * Checks `plain` (parsed JSON) against `schema` and returns it typed as T (the schema must say what
 * T says; schemas.spec.ts holds the contract ones to the classes). Throws BodyValidationError
 * naming the first bad field as a dotted path (`checks[1].timeoutMs`).
 */
export function validatePlain<T>(schema: ObjectSchema, plain: unknown, options: ValidateOptions = {}): T {
  const prefix = options.path ?? '';
  if (!isMapping(plain)) {
    throw new BodyValidationError(prefix, `${prefix || 'body'} must be a JSON object`);
  }
  // Depth, sizes, NUL and lone surrogates first, in one iterative walk.
  const violation = checkJsonLimits(plain, undefined, prefix);
  if (violation) throw new BodyValidationError(violation.field, violation.message);
  const failure = checkObject(schema, plain, prefix, options.forbidUnknown ?? true);
  if (failure) throw new BodyValidationError(failure.field, failure.message);
  return plain as T;
}

function isMapping(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function joinPath(prefix: string, property: string | number): string {
  if (typeof property === 'number') return `${prefix}[${property}]`;
  return prefix ? `${prefix}.${property}` : property;
}

function checkObject(
  schema: ObjectSchema,
  value: Record<string, unknown>,
  path: string,
  forbidUnknown: boolean,
): Failure | null {
  if (forbidUnknown) {
    for (const key of Object.keys(value)) {
      if (!Object.hasOwn(schema.properties, key)) {
        const field = joinPath(path, key);
        return { field, message: `${field} is not a known field` };
      }
    }
  }
  for (const [key, property] of Object.entries(schema.properties)) {
    const failure = check(property, value[key], joinPath(path, key), forbidUnknown);
    if (failure) return failure;
  }
  return null;
}

function check(schema: Schema, value: unknown, field: string, forbidUnknown: boolean): Failure | null {
  if (schema.optional && (value === undefined || value === null)) return null;
  const fail = (text: string): Failure => ({ field, message: `${field} ${text}` });
  switch (schema.type) {
    case 'string':
      if (typeof value !== 'string') return fail('must be a string');
      if (schema.notEmpty && value === '') return fail('should not be empty');
      if (schema.minLength !== undefined && value.length < schema.minLength)
        return fail(`must be longer than or equal to ${schema.minLength} characters`);
      if (schema.maxLength !== undefined && value.length > schema.maxLength)
        return fail(`must be shorter than or equal to ${schema.maxLength} characters`);
      return null;
    case 'pattern':
      return typeof value === 'string' && schema.pattern.test(value) ? null : fail(schema.message);
    case 'uuid':
      return typeof value === 'string' && UUID.test(value) ? null : fail('must be a UUID');
    case 'http-url':
      return typeof value === 'string' && isHttpUrl(value) ? null : fail('must be a URL address');
    case 'integer':
    case 'number':
      if (typeof value !== 'number' || !Number.isFinite(value)) return fail(numberMessage(schema.type));
      if (schema.type === 'integer' && !Number.isInteger(value)) return fail(numberMessage(schema.type));
      if (schema.minimum !== undefined && value < schema.minimum)
        return fail(`must not be less than ${schema.minimum}`);
      if (schema.maximum !== undefined && value > schema.maximum)
        return fail(`must not be greater than ${schema.maximum}`);
      return null;
    case 'boolean':
      return typeof value === 'boolean' ? null : fail('must be a boolean value');
    case 'enum':
      return typeof value === 'string' && schema.values.includes(value)
        ? null
        : fail(`must be one of the following values: ${schema.values.join(', ')}`);
    case 'array': {
      if (!Array.isArray(value)) return fail('must be an array');
      if (schema.minItems !== undefined && value.length < schema.minItems)
        return fail(`must contain at least ${schema.minItems} elements`);
      if (schema.maxItems !== undefined && value.length > schema.maxItems)
        return fail(`must contain no more than ${schema.maxItems} elements`);
      for (let i = 0; i < value.length; i++) {
        const failure = check(schema.items, value[i], joinPath(field, i), forbidUnknown);
        if (failure) return schema.itemsMessage ? fail(schema.itemsMessage) : failure;
      }
      return null;
    }
    case 'object':
      if (!isMapping(value)) return fail('must be an object');
      return checkObject(schema, value, field, forbidUnknown);
    case 'map':
      return isMapping(value) ? null : fail('must be an object');
  }
}

function numberMessage(type: 'integer' | 'number'): string {
  return type === 'integer'
    ? 'must be an integer number'
    : 'must be a number conforming to the specified constraints';
}

// validator.js isUUID(…, 'all'), which class-validator's IsUUID() uses.
const UUID =
  /^(?:[0-9a-f]{8}-[0-9a-f]{4}-[1-8][0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}|00000000-0000-0000-0000-000000000000|ffffffff-ffff-ffff-ffff-ffffffffffff)$/i;

// validator.js isIP (v4, v6 with an optional zone), verbatim.
const V4_SEGMENT = '(?:[0-9]|[1-9][0-9]|1[0-9][0-9]|2[0-4][0-9]|25[0-5])';
const V4 = `(${V4_SEGMENT}[.]){3}${V4_SEGMENT}`;
const V6_SEGMENT = '(?:[0-9a-fA-F]{1,4})';
const IPV4 = new RegExp(`^${V4}$`);
const IPV6 = new RegExp(
  '^(' +
    `(?:${V6_SEGMENT}:){7}(?:${V6_SEGMENT}|:)|` +
    `(?:${V6_SEGMENT}:){6}(?:${V4}|:${V6_SEGMENT}|:)|` +
    `(?:${V6_SEGMENT}:){5}(?::${V4}|(:${V6_SEGMENT}){1,2}|:)|` +
    `(?:${V6_SEGMENT}:){4}(?:(:${V6_SEGMENT}){0,1}:${V4}|(:${V6_SEGMENT}){1,3}|:)|` +
    `(?:${V6_SEGMENT}:){3}(?:(:${V6_SEGMENT}){0,2}:${V4}|(:${V6_SEGMENT}){1,4}|:)|` +
    `(?:${V6_SEGMENT}:){2}(?:(:${V6_SEGMENT}){0,3}:${V4}|(:${V6_SEGMENT}){1,5}|:)|` +
    `(?:${V6_SEGMENT}:){1}(?:(:${V6_SEGMENT}){0,4}:${V4}|(:${V6_SEGMENT}){1,6}|:)|` +
    `(?::((?::${V6_SEGMENT}){0,5}:${V4}|(?::${V6_SEGMENT}){1,7}|:))` +
    ')(%[0-9a-zA-Z.]{1,})?$',
);
const WRAPPED_IPV6 = /^\[([^\]]+)\](?::([0-9]+))?$/;

/** validator.js isFQDN with require_tld false (the rest at their defaults). */
function isHostName(host: string): boolean {
  const parts = host.split('.');
  if (/^\d+$/.test(parts[parts.length - 1])) return false;
  return parts.every(
    (part) =>
      part.length <= 63 &&
      /^[a-z_\u00a1-\uffff0-9-]+$/i.test(part) &&
      !/[\uff01-\uff5e]/.test(part) &&
      !/^-|-$/.test(part) &&
      !part.includes('_'),
  );
}

/**
 * validator.js isURL with { require_tld: false, require_protocol: true, protocols: ['http',
 * 'https'] } (what the agent's IsUrl decorators said), step by step; schemas.spec.ts compares the two.
 */
export function isHttpUrl(input: string): boolean {
  if (!input || /[\s<>]/.test(input) || input.startsWith('mailto:') || input.length > 2084) return false;
  const url = input.split('#')[0].split('?')[0];
  const protocol = /^([a-z][a-z0-9+\-.]*):/i.exec(url);
  if (!protocol) return false;
  let rest = url.slice(protocol[0].length);
  if (!rest.startsWith('//')) {
    // "host:port" or "user@host" without a scheme: validator refuses it when a protocol is required.
    const slash = rest.indexOf('/');
    const beforeSlash = slash === -1 ? rest : rest.slice(0, slash);
    const at = beforeSlash.indexOf('@');
    if (at !== -1) {
      const beforeAt = beforeSlash.slice(0, at);
      if (/^[a-zA-Z0-9\-_.%:]*$/.test(beforeAt) && !/%[0-9a-fA-F]{2}/.test(beforeAt)) return false;
    } else if (/^[0-9]/.test(rest)) return false;
  }
  const scheme = protocol[1].toLowerCase();
  if (scheme !== 'http' && scheme !== 'https') return false;
  if (rest.startsWith('//')) rest = rest.slice(2);
  if (rest === '') return false;
  const split = rest.split('/')[0].split('@');
  if (split.length > 1) {
    if (split[0] === '') return false;
    const auth = split.shift()!.split(':');
    if (auth.length > 2) return false;
    if (auth[0] === '' && auth[1] === '') return false;
  }
  const hostname = split.join('@');
  let host: string;
  let port: string | null = null;
  let ipv6: string | null = null;
  const wrapped = WRAPPED_IPV6.exec(hostname);
  if (wrapped) {
    host = '';
    ipv6 = wrapped[1];
    port = wrapped[2] ?? null;
  } else {
    const parts = hostname.split(':');
    host = parts.shift()!;
    if (parts.length > 0) port = parts.join(':');
  }
  if (port !== null && port.length > 0) {
    const n = parseInt(port, 10);
    if (!/^[0-9]+$/.test(port) || n <= 0 || n > 65535) return false;
  }
  return IPV4.test(host) || IPV6.test(host) || isHostName(host) || (ipv6 !== null && IPV6.test(ipv6));
}
