import { DynamicModule, Module } from '@nestjs/common';
import { APP_FILTER, APP_GUARD } from '@nestjs/core';
import { ScheduleModule } from '@nestjs/schedule';
import { TerminusModule } from '@nestjs/terminus';
import { TypeOrmModule } from '@nestjs/typeorm';
import { AuthGuard } from './auth/auth.guard';
import { CoreModule } from './common/core.module';
import { GlobalExceptionFilter } from './common/http-exception.filter';
import { AppConfig } from './config/app-config';
import { dataSourceOptions } from './database/data-source';
import { HealthController } from './health/health.controller';
import { FEATURE_MODULES } from './feature-modules';

@Module({})
export class AppModule {
  static forRoot(config: AppConfig): DynamicModule {
    return {
      module: AppModule,
      imports: [
        TypeOrmModule.forRoot({ ...dataSourceOptions(config), retryAttempts: 2, retryDelay: 1000 }),
        CoreModule.forRoot(config),
        ScheduleModule.forRoot(),
        TerminusModule.forRoot({ logger: false }),
        ...FEATURE_MODULES(config),
      ],
      controllers: [HealthController],
      providers: [
        { provide: APP_GUARD, useClass: AuthGuard },
        { provide: APP_FILTER, useClass: GlobalExceptionFilter },
      ],
    };
  }
}
