import { DynamicModule, Module, Provider } from '@nestjs/common';
import { AppConfig } from '../config/app-config';
import { RedisService } from '../redis/redis.service';
import { ClusterEmbeddedDnsProvider } from './cluster-embedded.provider';
import { DNS_PROVIDER } from './dns-provider.interface';
import { DnsServerService } from './dns-server.service';
import { DnsService } from './dns.service';
import { createPowerDnsProvider } from './powerdns-factory';
import { createRfc2136Provider } from './rfc2136-factory';

@Module({})
export class DnsModule {
  static forRoot(config: AppConfig): DynamicModule {
    const providerFactory: Provider = {
      provide: DNS_PROVIDER,
      inject: [AppConfig, RedisService],
      useFactory: (c: AppConfig, redis: RedisService) =>
        c.DNS_PROVIDER === 'rfc2136'
          ? createRfc2136Provider(c)
          : c.DNS_PROVIDER === 'powerdns'
            ? createPowerDnsProvider(c)
            : new ClusterEmbeddedDnsProvider(c, redis),
    };
    const serve = config.roles.has('dns') && config.DNS_PROVIDER === 'embedded';
    return {
      module: DnsModule,
      global: true,
      providers: [providerFactory, DnsService, ...(serve ? [DnsServerService] : [])],
      exports: [DNS_PROVIDER, DnsService, ...(serve ? [DnsServerService] : [])],
    };
  }
}
