/**
 * A group action (failover, switchover, failback, start, stop): one operation per member scenario,
 * each through OperationsService.request() with the same rules as a single-scenario request (one
 * operation per scenario, state checks), all carrying the group id. A member that cannot run is
 * reported in `refused`, not fatal — unless no member could start, then the whole request fails.
 */
import { Injectable } from '@nestjs/common';
import { AuditService } from '../../audit/audit.service';
import { InjectRepository } from '@nestjs/typeorm';
import { In, Repository } from 'typeorm';
import { ConflictError, DomainError, InvalidInputError, TransientError } from '../../common/errors';
import { ScenarioEntity } from '../../scenarios/scenario.entity';
import { createLogger } from '../../common/logger';
import { OperationType } from '../../operations/operation.entity';
import { OperationPlan, OperationPlanner } from '../../operations/operation-planner';
import { OperationRequest, OperationsService, OperationView } from '../../operations/operations.service';
import { GroupOperationRefusal, GroupOperationResult } from '../dtos/group.dto';
import { GroupsService } from '../groups.service';

const log = createLogger('RequestGroupOperation');

export const GROUP_OPERATION_TYPES = [
  'failover',
  'switchover',
  'failback',
  'start',
  'stop',
  'active-server-recovery',
] as const;
export type GroupOperationType = (typeof GROUP_OPERATION_TYPES)[number] & OperationType;

export interface GroupOperationCommand {
  groupId: string;
  type: GroupOperationType;
  requestedBy: string;
  reason: string;
  force?: boolean;
  /** active-server-recovery: the side to keep, and per-member choices that win over it */
  keep?: 'production' | 'replica';
  members?: { scenarioId: string; activeNodeId: string }[];
  confirmFenced?: boolean;
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
    @InjectRepository(ScenarioEntity) private readonly scenarios: Repository<ScenarioEntity>,
  ) {}

  /** What the group action would do, member by member; nothing is changed. */
  async plan(cmd: GroupOperationCommand): Promise<GroupOperationPlan> {
    const group = await this.groupWithMembers(cmd.groupId);
    const targets = await this.recoveryTargets(cmd, group);
    const plans: (
      OperationPlan | { scenarioId: string; wouldRun: false; refusals: GroupOperationRefusal[] }
    )[] = [];
    for (const scenarioId of group.scenarioIds) {
      try {
        plans.push(await this.planner.plan(this.memberRequest(cmd, group.id, scenarioId, targets)));
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
    const targets = await this.recoveryTargets(cmd, group);
    const operations: OperationView[] = [];
    const refused: GroupOperationRefusal[] = [];
    // One member at a time, in name order: each request locks only its own scenario row.
    for (const scenarioId of group.scenarioIds) {
      try {
        operations.push(
          await this.operations.request(this.memberRequest(cmd, group.id, scenarioId, targets)),
        );
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
        ...(targets && { keep: cmd.keep ?? null, activeNodeIds: Object.fromEntries(targets) }),
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

  /**
   * active-server-recovery: the node each member keeps, all checked before any member starts (a
   * bad choice for one member refuses the whole request with a 400 naming it; nothing starts).
   */
  private async recoveryTargets(
    cmd: GroupOperationCommand,
    group: { id: string; name: string; scenarioIds: string[] },
  ): Promise<Map<string, string> | undefined> {
    if (cmd.type !== 'active-server-recovery') return undefined;
    const chosen = new Map<string, string>();
    for (const [i, m] of (cmd.members ?? []).entries()) {
      if (!group.scenarioIds.includes(m.scenarioId))
        throw new InvalidInputError(
          `members[${i}].scenarioId: scenario ${m.scenarioId} is not a member of group ${group.name}`,
          `members[${i}].scenarioId`,
        );
      if (chosen.has(m.scenarioId))
        throw new InvalidInputError(
          `members[${i}].scenarioId: scenario ${m.scenarioId} is named twice`,
          `members[${i}].scenarioId`,
        );
      chosen.set(m.scenarioId, m.activeNodeId);
    }
    const scenarios = await this.scenarios.find({
      where: { id: In(group.scenarioIds) },
      relations: { replicas: true },
    });
    const targets = new Map<string, string>();
    for (const s of scenarios) {
      const replicas = [...(s.replicas ?? [])].sort((a, b) => a.position - b.position).map((r) => r.nodeId);
      const nodes = [s.productionNodeId, ...replicas];
      const pick = chosen.get(s.id);
      if (pick !== undefined) {
        if (!nodes.includes(pick)) {
          const i = (cmd.members ?? []).findIndex((m) => m.scenarioId === s.id);
          throw new InvalidInputError(
            `members[${i}].activeNodeId: node ${pick} is not a node of scenario ${s.name}`,
            `members[${i}].activeNodeId`,
          );
        }
        targets.set(s.id, pick);
      } else if (cmd.keep === 'production') targets.set(s.id, s.productionNodeId);
      else if (cmd.keep === 'replica') {
        const onReplica = s.activeNodeId !== s.productionNodeId ? s.activeNodeId : replicas[0];
        if (!onReplica) throw new InvalidInputError(`keep: member ${s.name} has no replica to keep`, 'keep');
        targets.set(s.id, onReplica);
      } else
        throw new InvalidInputError(
          `keep: give the side to keep (production or replica), or name a node for member ${s.name} in members`,
          'keep',
        );
    }
    return targets;
  }

  /** One member's operation request, the same for its plan and its operation. */
  private memberRequest(
    cmd: GroupOperationCommand,
    groupId: string,
    scenarioId: string,
    targets?: Map<string, string>,
  ): OperationRequest {
    return {
      scenarioId,
      groupId,
      type: cmd.type,
      trigger: 'manual',
      requestedBy: cmd.requestedBy,
      reason: cmd.reason,
      params: this.params(cmd, targets?.get(scenarioId)),
    };
  }

  private params(cmd: GroupOperationCommand, target?: string): Record<string, unknown> | undefined {
    if (cmd.type === 'failover' || cmd.type === 'start') return { force: cmd.force === true };
    if (cmd.type === 'active-server-recovery')
      return {
        ...(target !== undefined && { targetNodeId: target }),
        force: cmd.force === true,
        // As the single-scenario route: only meaningful (and only passed) with force.
        ...(cmd.force === true && cmd.confirmFenced === true && { confirmFenced: true }),
      };
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
