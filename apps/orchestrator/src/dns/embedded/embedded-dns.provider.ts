import { DnsProvider, DnsRecordSpec, DnsRecordWrite } from '../dns-provider.interface';
import { queryRecordValues } from './dns-query';
import { EmbeddedDnsServer } from './embedded-dns.server';

export interface EmbeddedDnsProviderOptions {
  /** How long `query` waits for the server's answer. */
  timeoutMs?: number;
}

/**
 * DnsProvider over the in-process server: `apply` writes to memory (epoch-fenced, synchronous),
 * `query` asks the server over UDP like a user would, so a verify step proves the socket answers.
 */
export class EmbeddedDnsProvider implements DnsProvider {
  readonly kind = 'embedded' as const;
  private readonly timeoutMs: number;

  constructor(
    private readonly server: EmbeddedDnsServer,
    options: EmbeddedDnsProviderOptions = {},
  ) {
    this.timeoutMs = options.timeoutMs ?? 2000;
  }

  /** Throws StaleEpochError on a lower epoch than the record holds. */
  async apply(write: DnsRecordWrite): Promise<void> {
    this.server.upsert(write);
  }

  async query(spec: DnsRecordSpec): Promise<string[]> {
    return queryRecordValues(
      { host: this.server.queryAddress, port: this.server.port, timeoutMs: this.timeoutMs },
      spec,
    );
  }
}
