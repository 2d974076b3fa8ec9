import { Initial1795613083121 } from './1795613083121-Initial';
import { AssuredRecoverySchedule1795700000000 } from './1795700000000-AssuredRecoverySchedule';
import { OperationBatches1795800000000 } from './1795800000000-OperationBatches';
import { MaintenanceWindows1795900000000 } from './1795900000000-MaintenanceWindows';
import { DecisionRecords1796000000000 } from './1796000000000-DecisionRecords';
import { EventStreamCursor1796100000000 } from './1796100000000-EventStreamCursor';
import { WebhookSubscriptions1796200000000 } from './1796200000000-WebhookSubscriptions';
import { ExternalAlerts1796300000000 } from './1796300000000-ExternalAlerts';
import { GroupSplit1796400000000 } from './1796400000000-GroupSplit';
import { GroupArRuns1796500000000 } from './1796500000000-GroupArRuns';

/** Every migration, in order. A new migration is added here as well as in its own file. */
// eslint-disable-next-line @typescript-eslint/no-unsafe-function-type
export const MIGRATIONS: Function[] = [
  Initial1795613083121,
  AssuredRecoverySchedule1795700000000,
  OperationBatches1795800000000,
  MaintenanceWindows1795900000000,
  DecisionRecords1796000000000,
  EventStreamCursor1796100000000,
  WebhookSubscriptions1796200000000,
  ExternalAlerts1796300000000,
  GroupSplit1796400000000,
  GroupArRuns1796500000000,
];
