import { createLogger } from '../common/logger';
import { AppConfig } from '../config/app-config';
import { DnsProvider } from './dns-provider.interface';
import { Rfc2136Provider } from './rfc2136/rfc2136.provider';

/** RFC 2136 dynamic update with TSIG HMAC-SHA256 (BIND, PowerDNS, Windows DNS). */
export function createRfc2136Provider(config: AppConfig): DnsProvider {
  return new Rfc2136Provider({
    server: config.RFC2136_SERVER!,
    port: config.RFC2136_PORT,
    keyName: config.RFC2136_KEY_NAME!,
    keySecretBase64: config.RFC2136_KEY_SECRET!,
    algorithm: 'hmac-sha256',
    timeoutMs: 3000,
    logger: createLogger('Rfc2136Provider'),
  });
}
