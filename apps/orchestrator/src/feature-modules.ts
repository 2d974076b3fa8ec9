import { DynamicModule, Type } from '@nestjs/common';
import { AppConfig } from './config/app-config';
import { NodesModule } from './nodes/nodes.module';
import { ScenariosModule } from './scenarios/scenarios.module';

/** Domain modules, chosen by the instance's ORCHESTRATOR_ROLES. */
export function FEATURE_MODULES(_config: AppConfig): (Type<unknown> | DynamicModule)[] {
  return [NodesModule, ScenariosModule];
}
