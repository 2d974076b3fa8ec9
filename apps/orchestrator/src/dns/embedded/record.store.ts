/**
 * The embedded server's zone data and answer logic, free of sockets so it can be tested alone.
 * Records live only in memory (fail static: whatever happens to PostgreSQL, the last records
 * written keep being answered). Every write is fenced by the scenario epoch.
 */
import { isIPv4, isIPv6 } from 'node:net';
import { ConflictError, InvalidInputError } from '../../common/errors';
import { DnsRecordSpec, DnsRecordType } from '../dns-provider.interface';
import {
  epochProblem,
  hostNameProblem,
  isDnsRecordType,
  isInZone,
  normalizeName,
  normalizeRecordValue,
  ttlProblem,
} from './dns-name.util';
import {
  DEFAULT_SOA,
  LoadResult,
  Resolution,
  SoaRdata,
  SoaSettings,
  StoredRecord,
  ZoneRecord,
} from './embedded-dns.types';
import { StaleEpochError } from './stale-epoch.error';

/** Longest CNAME chain followed inside our own zones (loops stop earlier). */
const MAX_CNAME_CHAIN = 8;

export interface RecordStoreOptions {
  soa?: Partial<SoaSettings>;
  /** Address of ns1.<zone> (glue); unset or unspecified (0.0.0.0, ::) means no glue record. */
  nsAddress?: string;
  /** Milliseconds clock, for SOA serials (tests pin it). */
  now?: () => number;
}

const key = (name: string, type: DnsRecordType) => `${name}/${type}`;

export class RecordStore {
  private readonly soa: SoaSettings;
  private readonly nsAddress?: string;
  private readonly now: () => number;
  private readonly servedZones = new Set<string>();
  /** Kept for zones that were dropped too, so a zone served again never goes back in serial. */
  private readonly serials = new Map<string, number>();
  private records = new Map<string, StoredRecord>();
  /** Every owner name and its ancestors: names that exist (RFC 8020: empty non-terminals too). */
  private existingNames = new Set<string>();

  constructor(options: RecordStoreOptions = {}) {
    this.soa = { ...DEFAULT_SOA, ...options.soa };
    for (const field of ['ttl', 'refresh', 'retry', 'expire', 'minimum'] as const) {
      const problem = ttlProblem(this.soa[field]);
      if (problem) throw new InvalidInputError(`soa.${field} ${problem}`, `soa.${field}`);
    }
    const ns = options.nsAddress;
    this.nsAddress = ns && ns !== '0.0.0.0' && ns !== '::' && (isIPv4(ns) || isIPv6(ns)) ? ns : undefined;
    this.now = options.now ?? Date.now;
  }

  /** Replace the set of zones answered for; names outside all of them get REFUSED. */
  setZones(zones: string[]): void {
    const next = new Set<string>();
    for (const raw of zones) {
      const zone = normalizeName(String(raw));
      const problem = hostNameProblem(zone);
      if (problem) throw new InvalidInputError(`zone "${raw}" ${problem}`, 'zones');
      next.add(zone);
    }
    for (const zone of next) {
      if (!this.servedZones.has(zone)) this.bumpSerial(zone);
    }
    this.servedZones.clear();
    for (const zone of next) this.servedZones.add(zone);
  }

  get zones(): string[] {
    return [...this.servedZones].sort();
  }

  /** The most specific served zone containing `name` (normalized), if any. */
  zoneFor(name: string): string | undefined {
    let best: string | undefined;
    for (const zone of this.servedZones) {
      if (isInZone(name, zone) && (!best || zone.length > best.length)) best = zone;
    }
    return best;
  }

  serialOf(zone: string): number | undefined {
    const normalized = normalizeName(zone);
    return this.servedZones.has(normalized) ? this.serials.get(normalized) : undefined;
  }

  get size(): number {
    return this.records.size;
  }

  /**
   * Replace every record (start-up, reload from PostgreSQL). Records that fail validation are
   * skipped and reported rather than failing the whole load: one bad row must not leave every
   * other scenario unanswered. Call setZones first; records of zones not served are skipped.
   */
  load(records: StoredRecord[]): LoadResult {
    const next = new Map<string, StoredRecord>();
    const skipped: LoadResult['skipped'] = [];
    for (const raw of records) {
      let record: StoredRecord;
      try {
        record = this.validate(raw);
      } catch (error) {
        skipped.push({ record: raw, reason: (error as Error).message });
        continue;
      }
      const previous = next.get(key(record.name, record.type));
      if (previous && previous.epoch > record.epoch) {
        skipped.push({ record: raw, reason: `duplicate of a record with higher epoch ${previous.epoch}` });
        continue;
      }
      if (previous) skipped.push({ record: previous, reason: `superseded by epoch ${record.epoch}` });
      next.set(key(record.name, record.type), record);
    }
    // A CNAME owner can have no other data: the side with the newest epoch wins.
    for (const cname of [...next.values()].filter((r) => r.type === 'CNAME')) {
      const others = (['A', 'AAAA'] as const)
        .map((type) => next.get(key(cname.name, type)))
        .filter((r): r is StoredRecord => r !== undefined);
      if (others.length === 0) continue;
      const losers = others.some((r) => r.epoch > cname.epoch) ? [cname] : others;
      for (const loser of losers) {
        next.delete(key(loser.name, loser.type));
        skipped.push({ record: loser, reason: `conflicts with a CNAME/address record at ${loser.name}` });
      }
    }
    this.records = next;
    this.reindex();
    for (const zone of this.servedZones) this.bumpSerial(zone);
    return { loaded: next.size, skipped };
  }

  /**
   * Make a record answer `write.value`. A lower epoch than the stored one is refused
   * (StaleEpochError); an equal epoch may change the value (the same operation retrying).
   */
  upsert(write: StoredRecord): 'applied' | 'unchanged' {
    const record = this.validate(write);
    const recordKey = key(record.name, record.type);
    const existing = this.records.get(recordKey);
    if (existing) {
      if (existing.scenarioId !== record.scenarioId) {
        throw new ConflictError(
          `DNS record ${record.name} ${record.type} belongs to scenario ${existing.scenarioId}, not ${record.scenarioId}`,
          { name: record.name, type: record.type, scenarioId: existing.scenarioId },
        );
      }
      if (record.epoch < existing.epoch) {
        throw new StaleEpochError(existing.epoch, record.epoch, `DNS write of ${record.name} ${record.type}`);
      }
    }
    this.assertNoCnameConflict(record);
    if (existing && existing.value === record.value && existing.ttl === record.ttl) {
      // Nothing users see changes, but the fence moves up to the newest epoch.
      if (record.epoch > existing.epoch) this.records.set(recordKey, record);
      return 'unchanged';
    }
    this.records.set(recordKey, record);
    // A changed value keeps the set of existing names; only a new record adds (never removes) names.
    if (!existing) this.addNames(record.name);
    this.bumpSerialFor(record.name);
    return 'applied';
  }

  /** Delete a record; with `epoch`, refuse (StaleEpochError) when the stored one is newer. */
  remove(spec: Pick<DnsRecordSpec, 'name' | 'type'>, epoch?: number): boolean {
    const name = normalizeName(spec.name);
    if (!isDnsRecordType(spec.type))
      throw new InvalidInputError(`type must be one of A, AAAA, CNAME`, 'type');
    const existing = this.records.get(key(name, spec.type));
    if (!existing) return false;
    if (epoch !== undefined && epoch < existing.epoch) {
      throw new StaleEpochError(existing.epoch, epoch, `DNS removal of ${name} ${spec.type}`);
    }
    this.records.delete(key(name, spec.type));
    this.reindex();
    this.bumpSerialFor(name);
    return true;
  }

  /** Copies of every record, sorted by name then type. */
  snapshot(): StoredRecord[] {
    return [...this.records.values()]
      .map((r) => ({ ...r }))
      .sort((a, b) => (a.name === b.name ? a.type.localeCompare(b.type) : a.name.localeCompare(b.name)));
  }

  /**
   * Answer one question. `qtype` is a type mnemonic ('A', 'AAAA', 'CNAME', 'NS', 'SOA', 'ANY';
   * anything else, e.g. 'MX' or 'TYPE65', can only get NODATA or NXDOMAIN).
   */
  resolve(qname: string, qtype: string): Resolution {
    const answers: ZoneRecord[] = [];
    let name = normalizeName(qname);
    let zone = this.zoneFor(name);
    if (!zone) return { rcode: 'REFUSED', authoritative: false, answers, authorities: [], additionals: [] };
    const visited = new Set<string>();
    for (;;) {
      visited.add(name);
      const cname = qtype === 'CNAME' || qtype === 'ANY' ? undefined : this.records.get(key(name, 'CNAME'));
      if (cname) {
        answers.push(this.toZoneRecord(cname));
        const targetZone = this.zoneFor(cname.value);
        // Outside our zones the resolver follows the chain itself; a loop just stops here.
        if (!targetZone || visited.has(cname.value) || visited.size > MAX_CNAME_CHAIN) {
          return { rcode: 'NOERROR', authoritative: true, answers, authorities: [], additionals: [] };
        }
        name = cname.value;
        zone = targetZone;
        continue;
      }
      const found = this.recordsAt(name, zone, qtype);
      if (found.length > 0) {
        answers.push(...found);
        const additionals = qtype === 'NS' ? this.glue(zone) : [];
        return { rcode: 'NOERROR', authoritative: true, answers, authorities: [], additionals };
      }
      // RFC 6604: after a CNAME the rcode describes the last name of the chain.
      return {
        rcode: this.nameExists(name, zone) ? 'NOERROR' : 'NXDOMAIN',
        authoritative: true,
        answers,
        authorities: [this.soaRecord(zone, Math.min(this.soa.ttl, this.soa.minimum))],
        additionals: [],
      };
    }
  }

  private validate(write: StoredRecord): StoredRecord {
    if (!write || typeof write !== 'object') throw new InvalidInputError('record must be an object');
    const zone = normalizeName(String(write.zone ?? ''));
    const zoneProblem = hostNameProblem(zone);
    if (zoneProblem) throw new InvalidInputError(`zone ${zoneProblem}`, 'zone');
    if (!this.servedZones.has(zone)) {
      throw new InvalidInputError(`zone ${zone} is not served by the embedded DNS server`, 'zone');
    }
    const name = normalizeName(String(write.name ?? ''));
    const nameProblem = hostNameProblem(name);
    if (nameProblem) throw new InvalidInputError(`name ${nameProblem}`, 'name');
    if (!isInZone(name, zone)) throw new InvalidInputError(`name ${name} is not inside zone ${zone}`, 'name');
    if (!isDnsRecordType(write.type))
      throw new InvalidInputError('type must be one of A, AAAA, CNAME', 'type');
    const ttlIssue = ttlProblem(write.ttl);
    if (ttlIssue) throw new InvalidInputError(`ttl ${ttlIssue}`, 'ttl');
    const epochIssue = epochProblem(write.epoch);
    if (epochIssue) throw new InvalidInputError(`epoch ${epochIssue}`, 'epoch');
    if (typeof write.scenarioId !== 'string' || write.scenarioId.length === 0) {
      throw new InvalidInputError('scenarioId must be a non-empty string', 'scenarioId');
    }
    const value = normalizeRecordValue(write.type, write.value);
    if ('problem' in value) throw new InvalidInputError(`value ${value.problem}`, 'value');
    if (write.type === 'CNAME') {
      if (this.servedZones.has(name)) {
        throw new InvalidInputError(
          `a CNAME cannot sit at zone apex ${name} (SOA and NS live there)`,
          'name',
        );
      }
      if (value.value === name) throw new InvalidInputError('a CNAME cannot point at itself', 'value');
    }
    return {
      zone,
      name,
      type: write.type,
      ttl: write.ttl,
      value: value.value,
      epoch: write.epoch,
      scenarioId: write.scenarioId,
    };
  }

  private assertNoCnameConflict(record: StoredRecord): void {
    const clashing =
      record.type === 'CNAME'
        ? (['A', 'AAAA'] as const).find((type) => this.records.has(key(record.name, type)))
        : this.records.has(key(record.name, 'CNAME'))
          ? 'CNAME'
          : undefined;
    if (clashing) {
      throw new ConflictError(
        `${record.name} already has a ${clashing} record; a CNAME owner can hold no other data (remove it first)`,
        { name: record.name, type: record.type, existingType: clashing },
      );
    }
  }

  private recordsAt(name: string, zone: string, qtype: string): ZoneRecord[] {
    const wanted = (type: string) => qtype === type || qtype === 'ANY';
    const out: ZoneRecord[] = [];
    for (const type of ['A', 'AAAA', 'CNAME'] as const) {
      const record = wanted(type) ? this.records.get(key(name, type)) : undefined;
      if (record) out.push(this.toZoneRecord(record));
    }
    if (name === zone) {
      if (wanted('SOA')) out.push(this.soaRecord(zone, this.soa.ttl));
      if (wanted('NS')) out.push({ name: zone, type: 'NS', ttl: this.soa.ttl, value: this.nsHost(zone) });
    }
    if (name === this.nsHost(zone)) {
      // Stored records for ns1.<zone> take precedence over the synthesized glue.
      out.push(...this.glue(zone).filter((g) => wanted(g.type) && !out.some((r) => r.type === g.type)));
    }
    return out;
  }

  private glue(zone: string): ZoneRecord[] {
    const host = this.nsHost(zone);
    const stored = (['A', 'AAAA'] as const)
      .map((type) => this.records.get(key(host, type)))
      .filter((r): r is StoredRecord => r !== undefined)
      .map((r) => this.toZoneRecord(r));
    if (stored.length > 0 || !this.nsAddress) return stored;
    return [
      { name: host, type: isIPv4(this.nsAddress) ? 'A' : 'AAAA', ttl: this.soa.ttl, value: this.nsAddress },
    ];
  }

  private nameExists(name: string, zone: string): boolean {
    return (
      name === zone ||
      this.existingNames.has(name) ||
      (name === this.nsHost(zone) && this.nsAddress !== undefined)
    );
  }

  private nsHost(zone: string): string {
    return `ns1.${zone}`;
  }

  private soaRecord(zone: string, ttl: number): ZoneRecord {
    const soa: SoaRdata = {
      mname: normalizeName(this.soa.mname ?? this.nsHost(zone)),
      rname: normalizeName(this.soa.rname ?? `hostmaster.${zone}`),
      serial: this.serials.get(zone) ?? this.nextSerial(undefined),
      refresh: this.soa.refresh,
      retry: this.soa.retry,
      expire: this.soa.expire,
      minimum: this.soa.minimum,
    };
    return { name: zone, type: 'SOA', ttl, soa };
  }

  private toZoneRecord(record: StoredRecord): ZoneRecord {
    return { name: record.name, type: record.type, ttl: record.ttl, value: record.value };
  }

  private reindex(): void {
    this.existingNames = new Set<string>();
    for (const record of this.records.values()) this.addNames(record.name);
  }

  /** The name and every name above it exist (they answer NODATA, not NXDOMAIN). */
  private addNames(name: string): void {
    const labels = name.split('.');
    for (let i = 0; i < labels.length; i++) this.existingNames.add(labels.slice(i).join('.'));
  }

  private bumpSerialFor(name: string): void {
    const zone = this.zoneFor(name);
    if (zone) this.bumpSerial(zone);
  }

  private bumpSerial(zone: string): void {
    this.serials.set(zone, this.nextSerial(this.serials.get(zone)));
  }

  /**
   * Epoch seconds, and never less than previous + 1: monotonic within a process, and a restart
   * (which loses the counter) starts from the clock, above any earlier serial unless more than
   * one change per second was made for a long stretch before it.
   */
  private nextSerial(previous: number | undefined): number {
    const seconds = Math.floor(this.now() / 1000) >>> 0;
    return previous === undefined ? seconds : Math.max(previous + 1, seconds) >>> 0;
  }
}
