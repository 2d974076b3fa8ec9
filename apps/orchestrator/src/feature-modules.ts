import { DynamicModule, Type } from '@nestjs/common';
import { AppConfig } from './config/app-config';

/** Domain modules, chosen by the instance's ORCHESTRATOR_ROLES. */
export function FEATURE_MODULES(_config: AppConfig): (Type<unknown> | DynamicModule)[] {
  return [];
}
