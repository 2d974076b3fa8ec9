/**
 * Dry runs: what an operation request would do, without doing any of it. The plan has the steps in
 * order, the target and why it was chosen (the same target-choice code the lock-epoch step runs),
 * how each node would be fenced (agent demote, fencing hook, or lease wait with its expected
 * duration), and every rule that would refuse the request. Nothing is written: no epoch bump, no
 * state change, no audit entry, no DNS change, no agent action (agents are only asked for status).
 *
 * Malformed input (a target that is not a node of the scenario, confirmFenced without force) and
 * unknown ids get the same 4xx as the real request; refusals that depend on the current situation
 * (state, an operation in progress, the policy, fencing) are listed in the plan instead.
 */
import { Injectable, Optional } from '@nestjs/common';
import { DataSource, In } from 'typeorm';
import { DomainError, InvalidInputError, NotFoundError } from '../common/errors';
import { readLastContact, readWatchdogArmed } from '../heartbeats/heartbeat.store';
import { MaintenanceService } from '../maintenance/maintenance.service';
import { NodeEntity } from '../nodes/node.entity';
import { RedisService } from '../redis/redis.service';
import { ScenarioEntity } from '../scenarios/scenario.entity';
import { AgentClient } from './agent.client';
import { OperationEntity } from './operation.entity';
import { ALLOWED_FROM, planFor, RUNNING_STATE } from './operation-plans';
import { OperationRequest } from './operations.service';
import { StepHandlers } from './step-handlers';

/** How long a dry run waits for an agent's status answer (it decides the fencing method). */
const STATUS_TIMEOUT_MS = 1500;

export interface PlanRefusal {
  /** in-progress, state, target, fencing-needs-force, fencing-blocked, needs-both-nodes, redis */
  rule: string;
  message: string;
  details?: Record<string, unknown>;
}

export interface PlanFencing {
  node: string;
  nodeId: string;
  /** agent-demote | fencing-hook | lease-wait | clean-demote | blocked */
  method: string;
  detail: string;
  /** lease-wait: how long the step would wait from now (0: the lease has already run out) */
  expectedWaitMs?: number;
}

export interface OperationPlan {
  dryRun: true;
  type: string;
  scenarioId: string;
  scenarioName: string;
  /** true when no rule would refuse it now */
  wouldRun: boolean;
  state: { current: string; during: string | null };
  epoch: { current: number; next: number };
  steps: readonly string[];
  target: {
    nodeId: string | null;
    name: string | null;
    why: string;
    candidates?: unknown;
  } | null;
  fencing: PlanFencing[];
  refusals: PlanRefusal[];
  warnings: string[];
}

@Injectable()
export class OperationPlanner {
  constructor(
    private readonly dataSource: DataSource,
    private readonly steps: StepHandlers,
    private readonly agents: AgentClient,
    private readonly redis: RedisService,
    @Optional() private readonly maintenance?: MaintenanceService,
  ) {}

  async plan(req: OperationRequest): Promise<OperationPlan> {
    const scenario = await this.dataSource
      .getRepository(ScenarioEntity)
      .findOne({ where: { id: req.scenarioId }, relations: { replicas: true } });
    if (!scenario) throw new NotFoundError('scenario', req.scenarioId);
    const params = req.params ?? {};
    const nodeIds = [scenario.productionNodeId, ...(scenario.replicas ?? []).map((r) => r.nodeId)];
    const target = params.targetNodeId;
    if (typeof target === 'string' && !nodeIds.includes(target)) {
      const field = req.type === 'active-server-recovery' ? 'activeNodeId' : 'targetNodeId';
      throw new InvalidInputError(
        `${field}: node ${target} is not a node of scenario ${scenario.name}`,
        field,
      );
    }
    const steps = planFor(req.type, params) ?? [];
    const refusals: PlanRefusal[] = [];
    const warnings: string[] = [];
    const moves = steps.includes('lock-epoch');
    const plan: OperationPlan = {
      dryRun: true,
      type: req.type,
      scenarioId: scenario.id,
      scenarioName: scenario.name,
      wouldRun: false,
      state: { current: scenario.state, during: RUNNING_STATE[req.type] ?? null },
      epoch: { current: scenario.epoch, next: moves ? scenario.epoch + 1 : scenario.epoch },
      steps,
      target: null,
      fencing: [],
      refusals,
      warnings,
    };

    const running = await this.dataSource.getRepository(OperationEntity).findOne({
      where: { scenarioId: scenario.id, state: In(['pending', 'running']) },
    });
    if (running?.type === 'ar-test' && req.type === 'failover')
      warnings.push(
        `an AR test runs (${running.id}): it would be aborted first, then the failover requested again`,
      );
    else if (running)
      refusals.push({
        rule: 'in-progress',
        message: `another operation runs on this scenario: ${running.id} (${running.type})`,
        details: { operationId: running.id },
      });
    const allowed = ALLOWED_FROM[req.type] ?? [];
    if (!allowed.includes(scenario.state))
      refusals.push({
        rule: 'state',
        message: `cannot ${req.type} a scenario that is ${scenario.state} (allowed from: ${allowed.join(', ')})`,
      });
    if (
      typeof target === 'string' &&
      req.type !== 'active-server-recovery' &&
      target === scenario.activeNodeId
    )
      refusals.push({ rule: 'target', message: `node ${target} is already the active node` });
    const redisUp = await this.redis.client.ping().then(
      () => true,
      () => false,
    );
    if (!redisUp)
      refusals.push({
        rule: 'redis',
        message: 'Redis is unreachable: no operation can start until it is back',
      });
    warnings.push(...((await this.maintenance?.warningsFor(scenario.id).catch(() => [])) ?? []));

    if (moves && !refusals.some((r) => r.rule === 'target')) {
      const op = {
        id: 'dry-run',
        type: req.type,
        trigger: req.trigger,
        params: { ...params, previousActiveNodeId: scenario.activeNodeId },
        epoch: null,
      } as unknown as OperationEntity;
      try {
        const choice = await this.steps.chooseTarget({ op, scenario });
        const node = await this.dataSource
          .getRepository(NodeEntity)
          .findOne({ where: { id: choice.target } });
        plan.target = { nodeId: choice.target, name: node?.name ?? null, why: choice.why };
        plan.fencing = await this.fencing(req, scenario, choice.target);
      } catch (err) {
        if (!(err instanceof DomainError)) throw err;
        plan.target = {
          nodeId: null,
          name: null,
          why: err.message,
          ...(err.details.candidates !== undefined && { candidates: err.details.candidates }),
        };
        refusals.push({
          rule: err.details.noEligibleTarget ? 'no-eligible-target' : 'target',
          message: err.message,
        });
      }
      for (const f of plan.fencing) {
        if (f.method === 'blocked') refusals.push({ rule: 'fencing-blocked', message: f.detail });
        if (f.method === 'needs-force') refusals.push({ rule: 'fencing-needs-force', message: f.detail });
        if (f.method === 'unreachable') refusals.push({ rule: 'needs-both-nodes', message: f.detail });
      }
    }
    plan.wouldRun = refusals.length === 0;
    return plan;
  }

  /** How each node the operation takes out would be fenced, judged on what is known now. */
  private async fencing(req: OperationRequest, s: ScenarioEntity, target: string): Promise<PlanFencing[]> {
    const params = req.params ?? {};
    const nodeIds = [s.productionNodeId, ...(s.replicas ?? []).map((r) => r.nodeId)];
    const out =
      req.type === 'active-server-recovery' ? nodeIds.filter((id) => id !== target) : [s.activeNodeId];
    const nodes = new Map(
      (await this.dataSource.getRepository(NodeEntity).find({ where: { id: In(out) } })).map((n) => [
        n.id,
        n,
      ]),
    );
    const clean = req.type === 'switchover' || req.type === 'failback';
    const mayForce = req.trigger === 'auto' || params.force === true;
    const policy = s.policy;
    return Promise.all(
      out.map(async (id): Promise<PlanFencing> => {
        const node = nodes.get(id)?.name ?? id;
        const reached = await this.agents.status(id, STATUS_TIMEOUT_MS).then(
          () => null,
          (err: Error) => err.message,
        );
        if (clean) {
          return reached === null
            ? { node, nodeId: id, method: 'clean-demote', detail: `${node} is demoted by its agent first` }
            : {
                node,
                nodeId: id,
                method: 'unreachable',
                detail: `${req.type} needs both nodes healthy; ${node}: ${reached}. Use failover instead.`,
              };
        }
        if (reached === null)
          return {
            node,
            nodeId: id,
            method: 'agent-demote',
            detail: `${node}'s agent answers: it would be demoted at the new epoch`,
          };
        if (!mayForce)
          return {
            node,
            nodeId: id,
            method: 'needs-force',
            detail: `${node}'s agent does not answer (${reached}): fencing it through the hook or lease expiry needs force: true`,
          };
        if (policy.fencingHook)
          return {
            node,
            nodeId: id,
            method: 'fencing-hook',
            detail: `${node}'s agent does not answer: the fencing hook on node ${policy.fencingHook.nodeId} would fence it (lease expiry if the hook fails)`,
          };
        const armed = await readWatchdogArmed(this.redis, id).catch(() => false);
        if (!armed && policy.requireWatchdog !== false && params.confirmFenced !== true)
          return {
            node,
            nodeId: id,
            method: 'blocked',
            detail:
              `cannot fence ${node}: its agent does not answer, no fencing hook is configured and it reported no armed watchdog. ` +
              'Power it off or isolate it, then fail over with force and confirmFenced',
          };
        const last = (await readLastContact(this.redis, id).catch(() => null)) ?? Date.now();
        const expectedWaitMs = Math.max(0, last + policy.leaseMs + policy.leaseMarginMs - Date.now());
        return {
          node,
          nodeId: id,
          method: 'lease-wait',
          detail:
            `${node}'s agent does not answer: waiting out its lease (${policy.leaseMs} ms + ${policy.leaseMarginMs} ms margin ` +
            `after its last contact${armed ? '; its watchdog is armed' : params.confirmFenced ? '; confirmed fenced by the operator' : ''})`,
          expectedWaitMs,
        };
      }),
    );
  }
}
