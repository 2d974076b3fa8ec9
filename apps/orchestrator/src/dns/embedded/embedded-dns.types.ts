import { DnsRecordWrite } from '../dns-provider.interface';

/**
 * A record as the embedded server holds it: what DnsService keeps in PostgreSQL (zone, name,
 * type, ttl, value, the epoch that last wrote it, the owning scenario), in normal form.
 */
export type StoredRecord = DnsRecordWrite;

/** SOA fields served at every zone apex; `mname`/`rname` default to ns1.<zone>/hostmaster.<zone>. */
export interface SoaSettings {
  /** TTL of the SOA and NS records themselves. */
  ttl: number;
  mname?: string;
  rname?: string;
  refresh: number;
  retry: number;
  expire: number;
  /** Negative-caching TTL (RFC 2308): kept short so a name that appears is seen soon. */
  minimum: number;
}

export const DEFAULT_SOA: SoaSettings = {
  ttl: 60,
  refresh: 3600,
  retry: 600,
  expire: 86400,
  minimum: 30,
};

export interface SoaRdata {
  mname: string;
  rname: string;
  serial: number;
  refresh: number;
  retry: number;
  expire: number;
  minimum: number;
}

/** One resource record of an answer, independent of the wire library. */
export type ZoneRecord =
  | { name: string; type: 'A' | 'AAAA' | 'CNAME' | 'NS'; ttl: number; value: string }
  | { name: string; type: 'SOA'; ttl: number; soa: SoaRdata };

/** What the server answers for one question, before encoding. */
export interface Resolution {
  rcode: 'NOERROR' | 'NXDOMAIN' | 'REFUSED';
  authoritative: boolean;
  answers: ZoneRecord[];
  authorities: ZoneRecord[];
  additionals: ZoneRecord[];
}

export interface LoadResult {
  loaded: number;
  skipped: { record: StoredRecord; reason: string }[];
}
