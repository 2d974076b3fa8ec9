/**
 * Name and value rules shared by the embedded server and the RFC 2136 client: one normal form
 * (lower case, no trailing dot) so comparisons, map keys and wire encodings agree everywhere.
 */
import { isIPv4, isIPv6 } from 'node:net';
import { DNS_RECORD_TYPES, DnsRecordType } from '../dns-provider.interface';

const LABEL = /^[a-z0-9_]([a-z0-9_-]{0,61}[a-z0-9_])?$/;

/** Lower case, trailing dot removed, surrounding whitespace trimmed. */
export function normalizeName(name: string): string {
  const trimmed = name.trim().toLowerCase();
  return trimmed.endsWith('.') ? trimmed.slice(0, -1) : trimmed;
}

/**
 * Why a normalized name is not a usable host name (letters, digits, hyphen, underscore; labels of
 * 1-63 octets; 253 octets in all), or undefined when it is.
 */
export function hostNameProblem(name: string): string | undefined {
  if (name.length === 0) return 'is empty';
  if (name.length > 253) return 'is longer than 253 characters';
  for (const label of name.split('.')) {
    if (label.length === 0) return 'has an empty label';
    if (label.length > 63) return `has a label longer than 63 characters ("${label}")`;
    if (!LABEL.test(label)) return `has an invalid label "${label}"`;
  }
  return undefined;
}

/** True when `name` is `zone` itself or lies below it (both normalized). */
export function isInZone(name: string, zone: string): boolean {
  return name === zone || name.endsWith(`.${zone}`);
}

/** RFC 5952 text form (lower case, longest zero run compressed), as dns2 decodes AAAA answers. */
export function canonicalIpv6(address: string): string {
  return new URL(`http://[${address}]/`).hostname.slice(1, -1);
}

export function isDnsRecordType(type: string): type is DnsRecordType {
  return (DNS_RECORD_TYPES as readonly string[]).includes(type);
}

/**
 * The normal form of a record value, or a problem description: IPv4 for A, canonical IPv6 for
 * AAAA, a normalized host name for CNAME.
 */
export function normalizeRecordValue(
  type: DnsRecordType,
  value: string,
): { value: string } | { problem: string } {
  if (typeof value !== 'string') return { problem: 'must be a string' };
  const trimmed = value.trim();
  switch (type) {
    case 'A':
      return isIPv4(trimmed) ? { value: trimmed } : { problem: `"${value}" is not an IPv4 address` };
    case 'AAAA':
      // A zone index (fe80::1%eth0) means nothing to other hosts.
      return isIPv6(trimmed) && !trimmed.includes('%')
        ? { value: canonicalIpv6(trimmed) }
        : { problem: `"${value}" is not an IPv6 address` };
    case 'CNAME': {
      const target = normalizeName(trimmed);
      const problem = hostNameProblem(target);
      return problem ? { problem: `CNAME target ${problem}` } : { value: target };
    }
  }
}

/** TTLs travel as 31-bit unsigned values on the wire (RFC 2181 §8). */
export function ttlProblem(ttl: number): string | undefined {
  return Number.isInteger(ttl) && ttl >= 0 && ttl <= 0x7fffffff
    ? undefined
    : 'must be an integer between 0 and 2147483647';
}

export function epochProblem(epoch: number): string | undefined {
  return Number.isSafeInteger(epoch) && epoch >= 0 ? undefined : 'must be a non-negative integer';
}
