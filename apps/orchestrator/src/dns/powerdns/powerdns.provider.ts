/**
 * DnsProvider for the PowerDNS Authoritative HTTP API: each record and its `_ha-epoch.<name>` TXT
 * marker are replaced in one PATCH (one backend transaction in PowerDNS, so users never see the
 * record without its marker), and query() asks PowerDNS's DNS port like a user's resolver would.
 */
import pino, { Logger } from 'pino';
import { mapLimit } from '../../common/coalesce';
import { ConflictError, DomainError } from '../../common/errors';
import { DnsProvider, DnsRecordSpec, DnsRecordWrite } from '../dns-provider.interface';
import { DnsServerAddress, queryRecordValues } from '../embedded/dns-query';
import { StaleEpochError } from '../embedded/stale-epoch.error';
import { EpochMarker, epochMarkerName } from '../rfc2136/epoch-marker';
import { normalizeWrite } from '../rfc2136/record-update';
import { PowerDnsClient, PowerDnsClientConfig } from './powerdns.client';
import { buildZonePatch, markerFromRecords } from './powerdns-rrsets';

export interface PowerDnsProviderConfig extends PowerDnsClientConfig {
  /** The DNS listener query() asks (PowerDNS's authoritative port). */
  queryServer: { host: string; port: number };
  logger?: Logger;
}

/** Marker reads in flight at once for a batch. */
const MARKER_READS_IN_FLIGHT = 8;

export class PowerDnsProvider implements DnsProvider {
  readonly kind = 'powerdns' as const;
  private readonly client: PowerDnsClient;
  private readonly logger: Logger;
  private readonly address: DnsServerAddress;

  constructor(config: PowerDnsProviderConfig, client?: PowerDnsClient) {
    this.client = client ?? new PowerDnsClient(config);
    this.address = { ...config.queryServer, timeoutMs: config.timeoutMs };
    this.logger = (config.logger ?? pino({ level: 'silent' })).child({ context: PowerDnsProvider.name });
  }

  /** Write the record and its epoch marker in one PATCH; StaleEpochError when the marker is newer. */
  async apply(write: DnsRecordWrite): Promise<void> {
    await this.applyMany([write]);
  }

  /**
   * Many writes: the markers read, then one PATCH per zone with every write of that zone that
   * passed the epoch check. A refused write (stale epoch, another scenario's record) does not stop
   * the others; after the rest are written, the first refusal is thrown, else the first zone's
   * failure.
   *
   * Epoch fencing here is defence in depth behind DnsService's check in PostgreSQL, which runs
   * before any provider call. It is a plain check-then-write: PowerDNS's API has no conditional
   * write (no prerequisites as in RFC 2136, no ETag or If-Match on RRsets), so another writer can
   * put a newer epoch between our marker read and our PATCH, and our PATCH then overwrites it.
   * The RFC 2136 provider closes that window with a prerequisite on the marker; here it stays
   * open, and only the PostgreSQL check (rows locked, epochs compared in the transaction that
   * stores the write) orders competing orchestrators. Also not covered, as with RFC 2136: writers
   * that change the record without its marker, and a deleted marker (then any epoch may write).
   */
  async applyMany(writes: DnsRecordWrite[]): Promise<void> {
    const records = writes.map(normalizeWrite);
    const names = [...new Set(records.map((r) => `${r.zone} ${r.name}`))];
    const read = await mapLimit(names, MARKER_READS_IN_FLIGHT, (key) => {
      const [zone, name] = key.split(' ');
      return this.readEpochMarker(zone, name);
    });
    const markers = new Map<string, EpochMarker | undefined>();
    const failures: Error[] = [];
    const unread = new Set<string>();
    read.forEach((r, i) => {
      if (r.status === 'fulfilled') markers.set(names[i], r.value);
      else {
        unread.add(names[i]);
        failures.push(r.reason as Error);
      }
    });

    const refusals: DomainError[] = [];
    const byZone = new Map<string, DnsRecordWrite[]>();
    for (const record of records) {
      const key = `${record.zone} ${record.name}`;
      if (unread.has(key)) continue;
      const refusal = this.refusal(record, markers.get(key));
      if (refusal) {
        refusals.push(refusal);
        continue;
      }
      byZone.set(record.zone, [...(byZone.get(record.zone) ?? []), record]);
    }

    // One zone after the other: some backends serialize writers and fail a concurrent PATCH
    // (gsqlite3 answers 500 while another zone's transaction holds the database).
    for (const [zone, zoneWrites] of byZone) {
      try {
        await this.client.patchRRsets(zone, buildZonePatch(zoneWrites));
      } catch (error) {
        failures.push(error as Error);
        continue;
      }
      for (const w of zoneWrites) {
        this.logger.info(
          { name: w.name, type: w.type, value: w.value, epoch: w.epoch, scenarioId: w.scenarioId },
          'record updated (powerdns)',
        );
      }
    }
    for (const failure of failures) {
      this.logger.warn({ err: failure.message }, 'PowerDNS write failed');
    }
    if (refusals.length > 0) throw refusals[0];
    if (failures.length > 0) throw failures[0];
  }

  async query(spec: DnsRecordSpec): Promise<string[]> {
    return queryRecordValues(this.address, spec);
  }

  /** The `_ha-epoch.<name>` marker as the API holds it now (undefined when there is none). */
  async readEpochMarker(zone: string, name: string): Promise<EpochMarker | undefined> {
    return markerFromRecords(await this.client.getRRset(zone, epochMarkerName(name), 'TXT'));
  }

  private refusal(record: DnsRecordWrite, current: EpochMarker | undefined): DomainError | undefined {
    if (current?.scenarioId && current.scenarioId !== record.scenarioId) {
      return new ConflictError(
        `DNS record ${record.name} is marked as written by scenario ${current.scenarioId}, not ${record.scenarioId}`,
        { name: record.name, scenarioId: current.scenarioId },
      );
    }
    if (current && current.epoch > record.epoch) {
      return new StaleEpochError(current.epoch, record.epoch, `DNS write of ${record.name} ${record.type}`);
    }
    return undefined;
  }
}
