/**
 * Strings that end up in jsonb (heartbeat reports, verdict evidence, events): PostgreSQL refuses
 * NUL characters and lone surrogates, and one such string fails the whole statement — a check
 * script printing a NUL byte would otherwise be enough to stop every later batch flush.
 */
// NUL is exactly what this looks for.
// eslint-disable-next-line no-control-regex
const JSONB_UNSAFE = /\u0000|[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/g;

/** Replaces NUL and lone surrogates with U+FFFD. */
export function jsonbSafe(text: string): string {
  return text.replace(JSONB_UNSAFE, '\uFFFD');
}

/** jsonbSafe on every string of a parsed JSON value, in place; returns the value. */
export function jsonbSafeDeep<T>(value: T): T {
  if (typeof value === 'string') return jsonbSafe(value) as T;
  if (Array.isArray(value)) {
    for (let i = 0; i < value.length; i++) value[i] = jsonbSafeDeep(value[i]);
    return value;
  }
  if (value && typeof value === 'object') {
    const record = value as Record<string, unknown>;
    for (const k of Object.keys(record)) record[k] = jsonbSafeDeep(record[k]);
  }
  return value;
}
