/**
 * Assured Recovery: requests ar-test operations (choosing and checking the replica to test) and
 * reads their results. The test itself runs as an operation (see operation-plans / step-handlers).
 */
import { Injectable } from '@nestjs/common';
import { DataSource, In } from 'typeorm';
import { InvalidInputError, InvalidStateError, NotFoundError } from '../common/errors';
import { OperationEntity, OperationStepEntity } from '../operations/operation.entity';
import { OperationPlan, OperationPlanner } from '../operations/operation-planner';
import { OperationsService, OperationView } from '../operations/operations.service';
import { NodeEntity } from '../nodes/node.entity';
import { ScenarioEntity } from '../scenarios/scenario.entity';
import { ArResultView } from './dtos/ar-test.dto';

export interface ArTestRequest {
  scenarioId: string;
  trigger: 'auto' | 'manual';
  requestedBy: string;
  reason: string;
  targetNodeId?: string;
  snapshot?: boolean;
  /** the group AR run this test belongs to (kept in the operation's params) */
  groupArRunId?: string;
}

@Injectable()
export class AssuredRecoveryService {
  constructor(
    private readonly dataSource: DataSource,
    private readonly operations: OperationsService,
    private readonly planner: OperationPlanner,
  ) {}

  async requestTest(req: ArTestRequest): Promise<OperationView> {
    const scenario = await this.scenarioOf(req.scenarioId);
    // Checked again under the scenario lock by OperationsService; here so the state error (409)
    // comes before target errors (after a failover the only replica may be the active node).
    if (scenario.state !== 'running') {
      throw new InvalidStateError(
        `cannot ar-test a scenario that is ${scenario.state} (allowed from: running)`,
        {
          state: scenario.state,
        },
      );
    }
    const target = this.replicaToTest(scenario, req.targetNodeId);
    // State (running only) and the one-operation rule are checked under the scenario lock there.
    return this.operations.request(this.operationRequest(req, scenario, target));
  }

  /** A dry run of the test: its plan (the replica it would run on, the steps), nothing changed. */
  async planTest(req: ArTestRequest): Promise<OperationPlan> {
    const scenario = await this.scenarioOf(req.scenarioId);
    let target: string | undefined;
    let why: string;
    try {
      target = this.replicaToTest(scenario, req.targetNodeId);
      why = req.targetNodeId ? 'the requested replica' : 'the first standby replica in order';
    } catch (err) {
      // After a failover the only replica may be the active node: that is the state's refusal.
      if (scenario.state === 'running' || req.targetNodeId !== undefined) throw err;
      why = (err as Error).message;
    }
    const plan = await this.planner.plan(this.operationRequest(req, scenario, target));
    const node = target
      ? await this.dataSource.getRepository(NodeEntity).findOne({ where: { id: target } })
      : null;
    return { ...plan, target: { nodeId: target ?? null, name: node?.name ?? null, why } };
  }

  private async scenarioOf(id: string): Promise<ScenarioEntity> {
    const scenario = await this.dataSource
      .getRepository(ScenarioEntity)
      .findOne({ where: { id }, relations: { replicas: true } });
    if (!scenario) throw new NotFoundError('scenario', id);
    return scenario;
  }

  /** The requested replica, or the first standby one; never the active node. */
  private replicaToTest(scenario: ScenarioEntity, requested: string | undefined): string {
    const standby = [...(scenario.replicas ?? [])]
      .sort((a, b) => a.position - b.position)
      .map((r) => r.nodeId)
      .filter((id) => id !== scenario.activeNodeId);
    if (requested !== undefined && !standby.includes(requested)) {
      throw new InvalidInputError(
        requested === scenario.activeNodeId
          ? 'targetNodeId is the active node: an AR test runs on a replica only'
          : 'targetNodeId is not a replica of this scenario',
        'targetNodeId',
      );
    }
    const target = requested ?? standby[0];
    if (!target) throw new InvalidInputError('the scenario has no standby replica to test', 'targetNodeId');
    return target;
  }

  private operationRequest(req: ArTestRequest, scenario: ScenarioEntity, target: string | undefined) {
    return {
      scenarioId: scenario.id,
      type: 'ar-test' as const,
      trigger: req.trigger,
      requestedBy: req.requestedBy,
      reason: req.reason,
      params: {
        ...(target && { targetNodeId: target }),
        snapshot: req.snapshot ?? scenario.arSnapshot,
        ...(req.groupArRunId && { groupArRunId: req.groupArRunId }),
      },
    };
  }

  async results(scenarioId: string, limit: number): Promise<ArResultView[]> {
    const exists = await this.dataSource.getRepository(ScenarioEntity).exists({ where: { id: scenarioId } });
    if (!exists) throw new NotFoundError('scenario', scenarioId);
    return this.resultsOfScenarios([scenarioId], limit);
  }

  /** The AR tests of these scenarios, newest first, at most `limit`. */
  async resultsOfScenarios(scenarioIds: string[], limit: number): Promise<ArResultView[]> {
    if (!scenarioIds.length) return [];
    const ops = await this.dataSource.getRepository(OperationEntity).find({
      where: { scenarioId: In(scenarioIds), type: 'ar-test' },
      order: { createdAt: 'DESC' },
      take: limit,
    });
    return this.resultViews(ops);
  }

  /** These AR test operations' results, in the order given (unknown ids left out). */
  async resultsOfOperations(ids: string[]): Promise<ArResultView[]> {
    if (!ids.length) return [];
    const ops = await this.dataSource
      .getRepository(OperationEntity)
      .find({ where: { id: In(ids), type: 'ar-test' } });
    const views = await this.resultViews(ops);
    return ids.map((id) => views.find((v) => v.operationId === id)).filter((v): v is ArResultView => !!v);
  }

  private async resultViews(ops: OperationEntity[]): Promise<ArResultView[]> {
    const steps = ops.length
      ? await this.dataSource
          .getRepository(OperationStepEntity)
          .find({ where: { operationId: In(ops.map((o) => o.id)) } })
      : [];
    const ms = (a: Date | null, b: Date | null) => (a && b ? b.getTime() - a.getTime() : null);
    return ops.map((o) => {
      const mine = steps.filter((s) => s.operationId === o.id).sort((a, b) => a.position - b.position);
      const check = mine.find((s) => s.name === 'ar-check' || s.name === 'ar-start');
      const p = o.params;
      const aborted = p.abortRequested === true;
      const arResult = typeof p.arResult === 'string' ? p.arResult : aborted ? 'aborted' : null;
      const checkStep = mine.find((s) => s.name === 'ar-check' && s.output?.ran === true) ?? check;
      return {
        operationId: o.id,
        scenarioId: o.scenarioId,
        state: o.state,
        trigger: o.trigger,
        requestedBy: o.requestedBy,
        arResult,
        aborted,
        error: o.error,
        targetNodeId: typeof p.targetNodeId === 'string' ? p.targetNodeId : null,
        epoch: o.epoch,
        checkOutput: typeof checkStep?.output?.output === 'string' ? checkStep.output.output : null,
        createdAt: o.createdAt,
        startedAt: o.startedAt,
        finishedAt: o.finishedAt,
        durationMs: ms(o.startedAt ?? o.createdAt, o.finishedAt),
        steps: mine.map((s) => ({ name: s.name, state: s.state, durationMs: ms(s.startedAt, s.finishedAt) })),
      };
    });
  }
}
