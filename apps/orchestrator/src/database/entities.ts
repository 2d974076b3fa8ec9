import { ExternalAlertEntity } from '../alerts/alert.entity';
import { GroupArRunEntity, GroupArRunMemberEntity } from '../assured-recovery/group-ar-run.entity';
import { AuditEntryEntity } from '../audit/audit-entry.entity';
import { ApiTokenEntity } from '../auth/api-token.entity';
import { IdempotencyKeyEntity } from '../common/idempotency-key.entity';
import { SettingEntity } from '../common/setting.entity';
import { EventEntity } from '../detection/event.entity';
import { NodeStatusEntity } from '../detection/node-status.entity';
import { DecisionEntity, NoteEntity } from '../decisions/decision.entity';
import { DnsRecordEntity } from '../dns/dns-record.entity';
import { GroupEntity, GroupMemberEntity } from '../groups/group.entity';
import { MaintenanceWindowEntity } from '../maintenance/maintenance-window.entity';
import { WebhookDeliveryEntity, WebhookSubscriptionEntity } from '../notify/webhook.entity';
import { NodeEntity } from '../nodes/node.entity';
import { OperationEntity, OperationStepEntity } from '../operations/operation.entity';
import { ScenarioReplicaEntity } from '../scenarios/scenario-replica.entity';
import { ScenarioEntity } from '../scenarios/scenario.entity';

export const ENTITIES = [
  NodeEntity,
  ScenarioEntity,
  ScenarioReplicaEntity,
  GroupEntity,
  GroupMemberEntity,
  OperationEntity,
  OperationStepEntity,
  AuditEntryEntity,
  ApiTokenEntity,
  IdempotencyKeyEntity,
  SettingEntity,
  NodeStatusEntity,
  EventEntity,
  DnsRecordEntity,
  MaintenanceWindowEntity,
  DecisionEntity,
  NoteEntity,
  WebhookSubscriptionEntity,
  WebhookDeliveryEntity,
  ExternalAlertEntity,
  GroupArRunEntity,
  GroupArRunMemberEntity,
];
