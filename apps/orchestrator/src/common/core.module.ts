import { DynamicModule, Global, Module } from '@nestjs/common';
import { TypeOrmModule } from '@nestjs/typeorm';
import { ApiTokenEntity } from '../auth/api-token.entity';
import { AuditEntryEntity } from '../audit/audit-entry.entity';
import { AuditService } from '../audit/audit.service';
import { AuthService } from '../auth/auth.service';
import { AppConfig } from '../config/app-config';
import { MetricsService } from '../metrics/metrics.service';
import { NodeEntity } from '../nodes/node.entity';
import { RedisService } from '../redis/redis.service';

/** Process-wide services every domain uses: config, Redis, metrics, audit, token resolution. */
@Global()
@Module({})
export class CoreModule {
  static forRoot(config: AppConfig): DynamicModule {
    return {
      module: CoreModule,
      imports: [TypeOrmModule.forFeature([ApiTokenEntity, AuditEntryEntity, NodeEntity])],
      providers: [
        { provide: AppConfig, useValue: config },
        RedisService,
        MetricsService,
        AuditService,
        AuthService,
      ],
      exports: [AppConfig, RedisService, MetricsService, AuditService, AuthService],
    };
  }
}
