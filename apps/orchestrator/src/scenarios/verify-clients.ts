/**
 * The `policy.verifyClients` settings of a scenario (pure): resolver addresses and the client-path
 * probe parsed and checked beyond what class-validator can say (an IP literal and a port, a probe
 * naming one of the scenario's own A/AAAA records), defaults filled in. Errors name the field,
 * e.g. `policy.verifyClients.resolvers[1]`.
 */
import { isIPv4, isIPv6 } from 'node:net';
import { InvalidInputError } from '../common/errors';
import { ClientProbeKind, ScenarioDnsRecord, VerifyClients } from './scenario.types';

export const VERIFY_CLIENTS_DEFAULTS = { marginMs: 2000, graceMs: 10_000, probeTimeoutMs: 2000 } as const;

/** What the API accepts (VerifyClientsDto after class-validator). */
export interface VerifyClientsInput {
  resolvers: string[];
  probe?: { kind: ClientProbeKind; target: string; timeoutMs?: number } | null;
  marginMs?: number;
  graceMs?: number;
}

export interface HostPort {
  host: string;
  port: number;
}

const DNS_NAME =
  /^(?=.{1,253}$)([a-z0-9_]([a-z0-9-_]{0,61}[a-z0-9])?\.)*[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/i;

function port(text: string): number | null {
  if (!/^\d{1,5}$/.test(text)) return null;
  const n = Number(text);
  return n >= 1 && n <= 65535 ? n : null;
}

/**
 * A resolver address: `1.2.3.4`, `1.2.3.4:5353`, `[::1]:53` or a bare IPv6 literal (port 53).
 * Only IP literals: a resolver named by a host name would itself need a resolver.
 */
export function parseResolver(text: string): HostPort | string {
  const s = text.trim();
  const v6 = /^\[([^\]]+)\](?::(.*))?$/.exec(s);
  if (v6) {
    if (!isIPv6(v6[1])) return `${v6[1]} is not an IPv6 address`;
    const p = v6[2] === undefined ? 53 : port(v6[2]);
    return p === null ? `port must be 1-65535` : { host: v6[1], port: p };
  }
  if (isIPv6(s)) return { host: s, port: 53 };
  const i = s.lastIndexOf(':');
  const host = i < 0 ? s : s.slice(0, i);
  if (!isIPv4(host)) return 'must be an IP address with an optional port (1.2.3.4:53, [::1]:53)';
  const p = i < 0 ? 53 : port(s.slice(i + 1));
  return p === null ? 'port must be 1-65535' : { host, port: p };
}

export function formatResolver(r: HostPort): string {
  return isIPv6(r.host) ? `[${r.host}]:${r.port}` : `${r.host}:${r.port}`;
}

/** The name and port a probe reaches: tcp `name:port`, http(s) URL (its port or 80/443). */
export function parseProbeTarget(kind: ClientProbeKind, target: string): (HostPort & { url?: URL }) | string {
  if (kind === 'tcp') {
    const i = target.lastIndexOf(':');
    const host = i < 0 ? '' : target.slice(0, i).toLowerCase().replace(/\.$/, '');
    const p = i < 0 ? null : port(target.slice(i + 1));
    if (!DNS_NAME.test(host) || p === null) return 'a tcp probe target is <dns name>:<port>';
    return { host, port: p };
  }
  let url: URL;
  try {
    url = new URL(target);
  } catch {
    return 'an http probe target is an http:// or https:// URL';
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:')
    return 'an http probe target is an http:// or https:// URL';
  const host = url.hostname.toLowerCase().replace(/\.$/, '');
  if (!DNS_NAME.test(host) || isIPv4(host)) return 'the URL host must be a DNS name (the service name)';
  return { host, port: url.port ? Number(url.port) : url.protocol === 'https:' ? 443 : 80, url };
}

/**
 * Checked and normalized settings; `records` are the scenario's DNS records (the probe must reach
 * one of its A/AAAA names: the address it resolves to is compared with the new active node's).
 */
export function normalizeVerifyClients(
  input: VerifyClientsInput,
  records: ScenarioDnsRecord[],
  field = 'policy.verifyClients',
): VerifyClients {
  const resolvers = input.resolvers.map((text, i) => {
    const r = parseResolver(text);
    if (typeof r === 'string')
      throw new InvalidInputError(`${field}.resolvers[${i}]: ${r}`, `${field}.resolvers[${i}]`);
    return formatResolver(r);
  });
  resolvers.forEach((r, i) => {
    if (resolvers.indexOf(r) !== i)
      throw new InvalidInputError(
        `${field}.resolvers[${i}]: ${r} is listed twice`,
        `${field}.resolvers[${i}]`,
      );
  });
  let probe: VerifyClients['probe'] = null;
  if (input.probe) {
    const t = parseProbeTarget(input.probe.kind, input.probe.target);
    if (typeof t === 'string')
      throw new InvalidInputError(`${field}.probe.target: ${t}`, `${field}.probe.target`);
    if (!records.some((r) => r.name === t.host && (r.type === 'A' || r.type === 'AAAA'))) {
      throw new InvalidInputError(
        `${field}.probe.target: ${t.host} is not one of this scenario's A or AAAA records`,
        `${field}.probe.target`,
      );
    }
    probe = {
      kind: input.probe.kind,
      target: input.probe.target,
      timeoutMs: input.probe.timeoutMs ?? VERIFY_CLIENTS_DEFAULTS.probeTimeoutMs,
    };
  }
  return {
    resolvers,
    probe,
    marginMs: input.marginMs ?? VERIFY_CLIENTS_DEFAULTS.marginMs,
    graceMs: input.graceMs ?? VERIFY_CLIENTS_DEFAULTS.graceMs,
  };
}
