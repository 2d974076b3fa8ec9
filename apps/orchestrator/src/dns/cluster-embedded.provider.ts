/**
 * The embedded provider as seen from any orchestrator process: a write is applied to this
 * process's DNS server when it runs one, and published so every other instance's server applies
 * it too (PostgreSQL holds the record first, so a missed message is healed by the periodic reload).
 * Queries go to the configured DNS address, exactly like a user's resolver would ask.
 */
import { AppConfig } from '../config/app-config';
import { RedisService } from '../redis/redis.service';
import { DnsProvider, DnsRecordSpec, DnsRecordWrite } from './dns-provider.interface';
import { queryServer } from './embedded/dns-query';
import { EmbeddedDnsServer } from './embedded/embedded-dns.server';

export const DNS_CHANNEL = 'dns';

export class ClusterEmbeddedDnsProvider implements DnsProvider {
  readonly kind = 'embedded' as const;
  /** Set by DnsServerService when this process serves DNS. */
  localServer: EmbeddedDnsServer | null = null;

  constructor(
    private readonly config: AppConfig,
    private readonly redis: RedisService,
  ) {}

  async apply(write: DnsRecordWrite): Promise<void> {
    this.applyLocally(write);
    await this.redis.publish(DNS_CHANNEL, JSON.stringify(write));
  }

  /** Into this process's server, when it runs one (its zone added if new); throws like upsert. */
  private applyLocally(write: DnsRecordWrite): void {
    if (!this.localServer) return;
    const zone = write.zone.toLowerCase().replace(/\.$/, '');
    if (!this.localServer.zones.includes(zone)) this.localServer.setZones([...this.localServer.zones, zone]);
    this.localServer.upsert(write);
  }

  /** Many writes: applied here, then one message (a JSON array) for every other instance. */
  async applyMany(writes: DnsRecordWrite[]): Promise<void> {
    for (const write of writes) {
      try {
        this.applyLocally(write);
      } catch {
        // A newer epoch is already served here (a race with another operation): the server keeps
        // it, and the caller's verify step reports the record that does not answer its value.
      }
    }
    for (let from = 0; from < writes.length; from += 1000) {
      await this.redis.publish(DNS_CHANNEL, JSON.stringify(writes.slice(from, from + 1000)));
    }
  }

  async query(spec: DnsRecordSpec): Promise<string[]> {
    const port = this.localServer?.listening ? this.localServer.port : this.config.DNS_PORT;
    const host = this.config.DNS_HOST === '0.0.0.0' ? '127.0.0.1' : this.config.DNS_HOST;
    const res = await queryServer({ host, port, timeoutMs: 1000 }, spec.name, spec.type);
    return res.answers
      .filter((a) => a.type === (spec.type === 'A' ? 1 : spec.type === 'AAAA' ? 28 : 5))
      .map((a) =>
        String((a as { address?: string; domain?: string }).address ?? (a as { domain?: string }).domain),
      )
      .map((v) => v.replace(/\.$/, '').toLowerCase());
  }
}
