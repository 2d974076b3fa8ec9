/**
 * The port through which operations redirect users: one interface, several providers
 * (embedded authoritative server, RFC 2136 dynamic update, PowerDNS HTTP API; Route 53 and others
 * later).
 * Epoch checks happen before a provider is called (DnsService, against PostgreSQL), and the
 * embedded server checks them again in memory, so a stale write is refused at both places.
 */
export const DNS_PROVIDER = Symbol('DNS_PROVIDER');

export const DNS_RECORD_TYPES = ['A', 'AAAA', 'CNAME'] as const;
export type DnsRecordType = (typeof DNS_RECORD_TYPES)[number];

/** A record a scenario owns: `name` is the fully qualified owner name without trailing dot. */
export interface DnsRecordSpec {
  zone: string;
  name: string;
  type: DnsRecordType;
  ttl: number;
}

/** A desired value for a record, fenced by the scenario epoch. */
export interface DnsRecordWrite extends DnsRecordSpec {
  /** IPv4 for A, IPv6 for AAAA, a host name for CNAME. */
  value: string;
  epoch: number;
  scenarioId: string;
}

export interface DnsProvider {
  readonly kind: 'embedded' | 'rfc2136' | 'powerdns';
  /** Make the record answer `write.value`. Idempotent; throws StaleEpochError on an older epoch. */
  apply(write: DnsRecordWrite): Promise<void>;
  /** The same for many records at once, where the provider can do better than one by one. */
  applyMany?(writes: DnsRecordWrite[]): Promise<void>;
  /** Ask the authoritative server what it answers now for the record (values only). */
  query(spec: DnsRecordSpec): Promise<string[]>;
}
