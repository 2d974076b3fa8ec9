import { DynamicModule, Type } from '@nestjs/common';
import { AlertsModule } from './alerts/alerts.module';
import { AssuredRecoveryModule } from './assured-recovery/assured-recovery.module';
import { AuditModule } from './audit/audit.module';
import { TokensModule } from './auth/tokens.module';
import { IdempotencyModule } from './common/idempotency.module';
import { AppConfig } from './config/app-config';
import { DecisionsModule } from './decisions/decisions.module';
import { DetectionModule } from './detection/detection.module';
import { DnsModule } from './dns/dns.module';
import { EventsModule } from './events/events.module';
import { HeartbeatsModule } from './heartbeats/heartbeats.module';
import { MaintenanceModule } from './maintenance/maintenance.module';
import { NotifyModule } from './notify/notify.module';
import { OperationsModule } from './operations/operations.module';
import { TopologyModule } from './topology/topology.module';
import { GroupsModule } from './groups/groups.module';
import { NodesModule } from './nodes/nodes.module';
import { ScenariosModule } from './scenarios/scenarios.module';
import { ReportsModule } from './reports/reports.module';

/** Domain modules, chosen by the instance's ORCHESTRATOR_ROLES. */
export function FEATURE_MODULES(config: AppConfig): (Type<unknown> | DynamicModule)[] {
  return [
    NodesModule,
    ScenariosModule,
    GroupsModule,
    TokensModule,
    AuditModule,
    IdempotencyModule,
    TopologyModule,
    NotifyModule,
    MaintenanceModule,
    AlertsModule,
    DecisionsModule,
    DnsModule.forRoot(config),
    HeartbeatsModule,
    OperationsModule,
    DetectionModule,
    AssuredRecoveryModule,
    EventsModule,
    ReportsModule,
  ];
}
