/**
 * DnsProvider for servers that take RFC 2136 dynamic updates signed with TSIG (BIND, PowerDNS,
 * Windows DNS). Each record carries a `_ha-epoch.<name>` TXT marker written atomically with it.
 */
import pino, { Logger } from 'pino';
import { ConflictError } from '../../common/errors';
import { DnsProvider, DnsRecordSpec, DnsRecordWrite } from '../dns-provider.interface';
import { normalizeName } from '../embedded/dns-name.util';
import {
  DnsQueryError,
  DnsServerAddress,
  queryRecordValues,
  queryServer,
  rcodeName,
} from '../embedded/dns-query';
import { StaleEpochError } from '../embedded/stale-epoch.error';
import { rdataTxt } from './dns-wire';
import { DnsUpdatePrerequisiteError } from './dns-update.error';
import { EpochMarker, epochMarkerName, newestEpochMarker } from './epoch-marker';
import { buildRecordUpdate, normalizeWrite } from './record-update';
import { Rfc2136Client } from './rfc2136.client';
import { TsigAlgorithm } from './tsig';

export interface Rfc2136ProviderConfig {
  server: string;
  port: number;
  keyName: string;
  keySecretBase64: string;
  algorithm: TsigAlgorithm;
  timeoutMs: number;
  logger?: Logger;
}

/** The marker as read from the server: the parsed epoch and the exact TXT RDATAs seen. */
export interface MarkerReading {
  marker?: EpochMarker;
  rdatas: Buffer[];
}

/** Read-compare-write rounds before giving up when other writers keep changing the marker. */
const MAX_ATTEMPTS = 3;

export class Rfc2136Provider implements DnsProvider {
  readonly kind = 'rfc2136' as const;
  private readonly client: Rfc2136Client;
  private readonly logger: Logger;
  private readonly address: DnsServerAddress;

  constructor(config: Rfc2136ProviderConfig, client?: Rfc2136Client) {
    this.client = client ?? new Rfc2136Client(config);
    this.address = { host: config.server, port: config.port, timeoutMs: config.timeoutMs };
    this.logger = (config.logger ?? pino({ level: 'silent' })).child({ context: Rfc2136Provider.name });
  }

  /**
   * Write the record and its epoch marker in one signed UPDATE.
   *
   * Epoch fencing here is defence in depth behind DnsService's check in PostgreSQL. Reading the
   * marker and then writing would race on its own: another orchestrator could write a newer
   * epoch between our read and our update, and ours would overwrite it. The UPDATE therefore
   * carries a prerequisite that the marker RRset is still exactly what we read (or still absent),
   * so the server applies the compare and the swap atomically; if it changed, we read again and
   * re-check the epoch. A spoofed answer to the (unsigned) read can only make that prerequisite
   * fail, never let a stale write through. What this cannot cover: writers that change the
   * record without maintaining the marker (manual nsupdate, zone file edits), someone deleting
   * the marker (then any epoch may write, as for a record never written), and multi-primary
   * setups where another primary accepts a conflicting update.
   */
  async apply(write: DnsRecordWrite): Promise<void> {
    const record = normalizeWrite(write);
    for (let attempt = 1; ; attempt++) {
      const reading = await this.readEpochMarker(record.name);
      const current = reading.marker;
      if (current?.scenarioId && current.scenarioId !== record.scenarioId) {
        throw new ConflictError(
          `DNS record ${record.name} is marked as written by scenario ${current.scenarioId}, not ${record.scenarioId}`,
          { name: record.name, scenarioId: current.scenarioId },
        );
      }
      if (current && current.epoch > record.epoch) {
        throw new StaleEpochError(current.epoch, record.epoch, `DNS write of ${record.name} ${record.type}`);
      }
      try {
        await this.client.update(buildRecordUpdate(record, reading.rdatas));
        this.logger.info(
          {
            name: record.name,
            type: record.type,
            value: record.value,
            epoch: record.epoch,
            scenarioId: record.scenarioId,
          },
          'record updated (rfc2136)',
        );
        return;
      } catch (error) {
        if (!(error instanceof DnsUpdatePrerequisiteError) || attempt >= MAX_ATTEMPTS) throw error;
        this.logger.warn(
          { name: record.name, attempt },
          'epoch marker changed during update; reading it again',
        );
      }
    }
  }

  async query(spec: DnsRecordSpec): Promise<string[]> {
    return queryRecordValues(this.address, spec);
  }

  /** The `_ha-epoch.<name>` marker as the server answers it now. */
  async readEpochMarker(name: string): Promise<MarkerReading> {
    const markerName = epochMarkerName(normalizeName(name));
    const response = await queryServer(this.address, markerName, 'TXT');
    const rcode = response.header.rcode;
    if (rcode !== 0 && rcode !== 3) {
      throw new DnsQueryError(
        `reading ${markerName} TXT answered ${rcodeName(rcode)}`,
        rcodeName(rcode),
        rcode === 2,
      );
    }
    const strings = response.answers
      .filter((answer) => answer.type === 16 && normalizeName(answer.name) === markerName)
      .map((answer) => (Array.isArray(answer.data) ? answer.data : [String(answer.data ?? '')]));
    return {
      marker: newestEpochMarker(strings.flat()),
      rdatas: strings.map((texts) => rdataTxt(texts)),
    };
  }
}
