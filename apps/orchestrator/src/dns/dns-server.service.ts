/**
 * Runs the embedded authoritative server in instances with the `dns` role. Records live in memory:
 * loaded from PostgreSQL at start and every 2 s, updated at once from Redis messages. If
 * PostgreSQL or Redis is down, the server keeps answering the last records it had (fail static).
 */
import { Inject, Injectable, OnApplicationBootstrap, OnApplicationShutdown } from '@nestjs/common';
import { DataSource } from 'typeorm';
import { createLogger } from '../common/logger';
import { AppConfig } from '../config/app-config';
import { MetricsService } from '../metrics/metrics.service';
import { RedisService } from '../redis/redis.service';
import { TopologyService } from '../topology/topology.service';
import { DNS_CHANNEL, ClusterEmbeddedDnsProvider } from './cluster-embedded.provider';
import { DNS_PROVIDER, DnsProvider, DnsRecordWrite } from './dns-provider.interface';
import { DnsRecordEntity, toRecordWrite } from './dns-record.entity';
import { EmbeddedDnsServer } from './embedded/embedded-dns.server';

const log = createLogger('DnsServerService');

@Injectable()
export class DnsServerService implements OnApplicationBootstrap, OnApplicationShutdown {
  server: EmbeddedDnsServer;
  private timer: NodeJS.Timeout | null = null;

  constructor(
    private readonly config: AppConfig,
    private readonly dataSource: DataSource,
    private readonly redis: RedisService,
    private readonly topology: TopologyService,
    private readonly metrics: MetricsService,
    @Inject(DNS_PROVIDER) private readonly provider: DnsProvider,
  ) {
    this.server = new EmbeddedDnsServer({
      host: config.DNS_HOST,
      port: config.DNS_PORT,
      logger: log,
      onQuery: (rcode) => this.metrics.dnsQueries.inc({ rcode }),
    });
  }

  async onApplicationBootstrap(): Promise<void> {
    await this.reload();
    await this.server.start();
    if (this.provider instanceof ClusterEmbeddedDnsProvider) this.provider.localServer = this.server;
    log.info(
      { host: this.config.DNS_HOST, port: this.server.port },
      'embedded DNS server listening (UDP+TCP)',
    );
    await this.redis.subscribe(DNS_CHANNEL, (message) => this.onMessage(message));
    this.timer = setInterval(() => void this.reload(), 2000);
    this.timer.unref();
  }

  async onApplicationShutdown(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    await this.server.stop();
  }

  private onMessage(message: string): void {
    try {
      // One write, or a batch of them (applyMany).
      const parsed = JSON.parse(message) as DnsRecordWrite | DnsRecordWrite[];
      for (const write of Array.isArray(parsed) ? parsed : [parsed]) {
        this.ensureZone(write.zone);
        this.server.upsert(write);
      }
    } catch (err) {
      log.debug({ err: (err as Error).message }, 'DNS message not applied');
    }
  }

  private ensureZone(zone: string): void {
    const z = zone.toLowerCase().replace(/\.$/, '');
    if (!this.server.zones.includes(z)) this.server.setZones([...this.server.zones, z]);
  }

  async reload(): Promise<void> {
    try {
      const rows = await this.dataSource.getRepository(DnsRecordEntity).find();
      const zones = new Set<string>();
      for (const t of this.topology.allScenarios()) for (const r of t.entity.dnsRecords) zones.add(r.zone);
      for (const r of rows) zones.add(r.zone);
      this.server.setZones([...zones]);
      // Keep any in-memory record with a newer epoch than PostgreSQL shows (a message raced the reload).
      const memory = new Map(this.server.snapshot().map((w) => [`${w.name}/${w.type}`, w]));
      this.server.load(
        rows.map((r) => {
          const mem = memory.get(`${r.name}/${r.type}`);
          return mem && mem.epoch > r.epoch ? mem : toRecordWrite(r);
        }),
      );
    } catch (err) {
      log.warn({ err: (err as Error).message }, 'DNS reload failed; serving the last known records');
    }
  }
}
