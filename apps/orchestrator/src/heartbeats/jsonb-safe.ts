/**
 * Strings that end up in jsonb without passing the API's JSON limits (agents' answers, probe
 * output): PostgreSQL refuses NUL characters and lone surrogates, and one such string fails the
 * whole statement.
 */
import { wellFormedText } from '@ha/contracts';

/** Replaces NUL and lone surrogates with U+FFFD (the same repair the agent applies to script output). */
export const jsonbSafe = wellFormedText;

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
