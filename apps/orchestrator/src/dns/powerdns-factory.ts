import { createLogger } from '../common/logger';
import { AppConfig, parseHostPort } from '../config/app-config';
import { DnsProvider } from './dns-provider.interface';
import { PowerDnsProvider } from './powerdns/powerdns.provider';

/** The PowerDNS Authoritative HTTP API (PDNS_* settings, checked by loadConfig). */
export function createPowerDnsProvider(config: AppConfig): DnsProvider {
  return new PowerDnsProvider({
    apiUrl: config.PDNS_API_URL!,
    apiKey: config.PDNS_API_KEY!,
    serverId: config.PDNS_SERVER_ID,
    timeoutMs: config.PDNS_TIMEOUT_MS,
    queryServer: parseHostPort(config.PDNS_QUERY_SERVER!),
    logger: createLogger('PowerDnsProvider'),
  });
}
