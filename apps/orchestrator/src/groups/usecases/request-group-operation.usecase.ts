/**
 * A group action (failover, switchover, failback, start, stop): one operation per member scenario,
 * each through OperationsService.request() with the same rules as a single-scenario request (one
 * operation per scenario, state checks), all carrying the group id. A member that cannot run is
 * reported in `refused`, not fatal — unless no member could start, then the whole request fails.
 */
import { Injectable } from '@nestjs/common';
import { AuditService } from '../../audit/audit.service';
import { ConflictError, DomainError, TransientError } from '../../common/errors';
import { createLogger } from '../../common/logger';
import { OperationType } from '../../operations/operation.entity';
import { OperationPlan, OperationPlanner } from '../../operations/operation-planner';
import { OperationRequest, OperationsService, OperationView } from '../../operations/operations.service';
import { GroupOperationRefusal, GroupOperationResult } from '../dtos/group.dto';
import { GroupsService } from '../groups.service';

const log = createLogger('RequestGroupOperation');

export const GROUP_OPERATION_TYPES = ['failover', 'switchover', 'failback', 'start', 'stop'] as const;
export type GroupOperationType = (typeof GROUP_OPERATION_TYPES)[number] & OperationType;

export interface GroupOperationCommand {
  groupId: string;
  type: GroupOperationType;
  requestedBy: string;
  reason: string;
  force?: boolean;
}

/** A group dry run: each member's plan, as its own dry run would answer. */
export interface GroupOperationPlan {
  dryRun: true;
  groupId: string;
  type: GroupOperationType;
  /** every member would run */
  wouldRun: boolean;
  plans: (OperationPlan | { scenarioId: string; wouldRun: false; refusals: GroupOperationRefusal[] })[];
}

@Injectable()
export class RequestGroupOperationUseCase {
  constructor(
    private readonly groups: GroupsService,
    private readonly operations: OperationsService,
    private readonly audit: AuditService,
    private readonly planner: OperationPlanner,
  ) {}

  /** What the group action would do, member by member; nothing is changed. */
  async plan(cmd: GroupOperationCommand): Promise<GroupOperationPlan> {
    const group = await this.groupWithMembers(cmd.groupId);
    const plans: (
      OperationPlan | { scenarioId: string; wouldRun: false; refusals: GroupOperationRefusal[] }
    )[] = [];
    for (const scenarioId of group.scenarioIds) {
      try {
        plans.push(await this.planner.plan(this.memberRequest(cmd, group.id, scenarioId)));
      } catch (err) {
        // As the real request: a member that cannot even be planned (deleted meanwhile) is a refusal.
        if (!(err instanceof DomainError)) throw err;
        plans.push({ scenarioId, wouldRun: false, refusals: [refusal(scenarioId, err)] });
      }
    }
    return {
      dryRun: true,
      groupId: group.id,
      type: cmd.type,
      wouldRun: plans.every((p) => p.wouldRun),
      plans,
    };
  }

  async execute(cmd: GroupOperationCommand): Promise<GroupOperationResult> {
    const group = await this.groupWithMembers(cmd.groupId);
    const operations: OperationView[] = [];
    const refused: GroupOperationRefusal[] = [];
    // One member at a time, in name order: each request locks only its own scenario row.
    for (const scenarioId of group.scenarioIds) {
      try {
        operations.push(await this.operations.request(this.memberRequest(cmd, group.id, scenarioId)));
      } catch (err) {
        if (!(err instanceof DomainError)) {
          // Unknown failure: surface it unless members already started (they must be reported).
          if (!operations.length && !refused.length) throw err;
          log.error({ err, groupId: group.id, scenarioId }, 'group member request failed');
        }
        refused.push(refusal(scenarioId, err));
      }
    }
    // A refused group request changes nothing, like a refused single-scenario request.
    if (!operations.length) {
      if (refused.every((r) => r.statusCode === 503)) {
        throw new TransientError(refused[0].message, { groupId: group.id, refused });
      }
      throw new ConflictError(`no member of group ${group.name} could start a ${cmd.type}`, {
        groupId: group.id,
        refused,
      });
    }
    await this.audit.record({
      actor: cmd.requestedBy,
      action: `group.${cmd.type}.requested`,
      targetType: 'group',
      targetId: group.id,
      reason: cmd.reason,
      details: {
        name: group.name,
        operationIds: operations.map((o) => o.id),
        refused: refused.map((r) => ({ scenarioId: r.scenarioId, statusCode: r.statusCode, error: r.error })),
        ...(cmd.force !== undefined && { force: cmd.force }),
      },
    });
    log.info(
      { groupId: group.id, type: cmd.type, started: operations.length, refused: refused.length },
      'group operation requested',
    );
    return { groupId: group.id, type: cmd.type, operations, refused };
  }

  /** The group, refused when it has no member to act on (dry run and real request alike). */
  private async groupWithMembers(groupId: string) {
    const group = await this.groups.get(groupId);
    if (!group.scenarioIds.length) {
      throw new ConflictError(`group ${group.name} has no member scenarios`, { groupId: group.id });
    }
    return group;
  }

  /** One member's operation request, the same for its plan and its operation. */
  private memberRequest(cmd: GroupOperationCommand, groupId: string, scenarioId: string): OperationRequest {
    return {
      scenarioId,
      groupId,
      type: cmd.type,
      trigger: 'manual',
      requestedBy: cmd.requestedBy,
      reason: cmd.reason,
      params: this.params(cmd),
    };
  }

  private params(cmd: GroupOperationCommand): Record<string, unknown> | undefined {
    if (cmd.type === 'failover' || cmd.type === 'start') return { force: cmd.force === true };
    return undefined;
  }
}

function refusal(scenarioId: string, err: unknown): GroupOperationRefusal {
  if (err instanceof DomainError) {
    return {
      scenarioId,
      statusCode: err.status,
      error: err.code,
      message: err.message,
      details: err.details,
    };
  }
  return {
    scenarioId,
    statusCode: 500,
    error: 'internal_error',
    message: 'internal error; see logs',
    details: {},
  };
}
