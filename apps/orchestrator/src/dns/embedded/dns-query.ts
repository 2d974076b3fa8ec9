/**
 * Ask an authoritative server a question the way a user's resolver would (UDP, TCP on
 * truncation, no recursion). Shared by the embedded and RFC 2136 providers' `query`.
 */
import { isIPv6 } from 'node:net';
import DNS from 'dns2';
import { DomainError } from '../../common/errors';
import { DnsRecordSpec } from '../dns-provider.interface';
import { canonicalIpv6, normalizeName } from './dns-name.util';

const { Packet } = DNS;

export interface DnsServerAddress {
  host: string;
  port: number;
  timeoutMs: number;
}

/** A DNS server did not answer, or answered with an error code. */
export class DnsQueryError extends DomainError {
  readonly status = 502;
  readonly code = 'dns_query_failed';
  override readonly retryable: boolean;
  constructor(
    message: string,
    readonly rcode: string | undefined,
    retryable: boolean,
  ) {
    super(message, { rcode });
    this.retryable = retryable;
  }
}

export const rcodeName = (rcode: number): string =>
  Object.entries(Packet.RCODE).find(([, value]) => value === rcode)?.[0] ?? `RCODE${rcode}`;

/**
 * Send one query (non-recursive by default: an authoritative server is asked; `recursive` sets RD
 * for a user's resolver); network failures become a retryable DnsQueryError.
 */
export async function queryServer(
  server: DnsServerAddress,
  name: string,
  type: 'A' | 'AAAA' | 'CNAME' | 'TXT' | 'SOA',
  recursive = false,
): Promise<DNS.Packet> {
  const resolve = DNS.UDPClient({
    dns: server.host,
    port: server.port,
    timeout: server.timeoutMs,
    socketType: isIPv6(server.host) ? 'udp6' : 'udp4',
    retryOverTCP: true,
  });
  try {
    return await resolve(name, type, Packet.CLASS.IN, { recursive });
  } catch (error) {
    throw new DnsQueryError(
      `DNS query ${name} ${type} to ${server.host}:${server.port} failed: ${(error as Error).message}`,
      undefined,
      true,
    );
  }
}

/**
 * Values of the given type in the answer (the record's own, or those at the end of a CNAME chain),
 * in normal form; NXDOMAIN is an empty list, any other error rcode throws DnsQueryError.
 */
export async function queryRecordValues(server: DnsServerAddress, spec: DnsRecordSpec): Promise<string[]> {
  return (await queryRecord(server, spec)).values;
}

/**
 * queryRecordValues with the answer's remaining TTL (the lowest of the matching records; null when
 * there are none). `recursive` asks a user's resolver, whose TTL counts down while it caches.
 */
export async function queryRecord(
  server: DnsServerAddress,
  spec: Pick<DnsRecordSpec, 'name' | 'type'>,
  recursive = false,
): Promise<{ values: string[]; ttl: number | null }> {
  const response = await queryServer(server, spec.name, spec.type, recursive);
  const rcode = response.header.rcode;
  if (rcode === Packet.RCODE.NXDOMAIN) return { values: [], ttl: null };
  if (rcode !== Packet.RCODE.NOERROR) {
    const name = rcodeName(rcode);
    throw new DnsQueryError(
      `DNS query ${spec.name} ${spec.type} to ${server.host}:${server.port} answered ${name}`,
      name,
      rcode === Packet.RCODE.SERVFAIL,
    );
  }
  const type = Packet.TYPE[spec.type];
  const answers = response.answers.filter((answer) => answer.type === type);
  const values = answers.map((answer) => {
    if (spec.type === 'CNAME') return normalizeName(answer.domain ?? '');
    if (spec.type === 'AAAA') return canonicalIpv6(answer.address ?? '::');
    return answer.address ?? '';
  });
  const ttl = answers.length > 0 ? Math.min(...answers.map((a) => a.ttl)) : null;
  return { values, ttl };
}
