/**
 * Creates operations (one per scenario at a time, enforced by a unique partial index) and reads
 * them. Creation locks the scenario row, checks the state allows the operation, moves the
 * scenario into its transient state, inserts the operation with all its steps, and writes the
 * audit entry — one transaction. The first step is then queued.
 */
import { Injectable } from '@nestjs/common';
import { InjectRepository } from '@nestjs/typeorm';
import { DataSource, EntityManager, In, QueryFailedError, Repository } from 'typeorm';
import { AuditService } from '../audit/audit.service';
import { Page } from '../common/dtos/pagination.dto';
import {
  InvalidInputError,
  InvalidStateError,
  NotFoundError,
  OperationInProgressError,
  TransientError,
} from '../common/errors';
import { createLogger } from '../common/logger';
import { RedisService } from '../redis/redis.service';
import { ScenarioReplicaEntity } from '../scenarios/scenario-replica.entity';
import { ScenarioEntity } from '../scenarios/scenario.entity';
import { TopologyService } from '../topology/topology.service';
import { OperationEntity, OperationStepEntity, OperationType } from './operation.entity';
import { ALLOWED_FROM, planFor, RUNNING_STATE } from './operation-plans';
import { OperationsQueue } from './operations.queue';

const log = createLogger('OperationsService');

/**
 * A failover was requested while an AR test runs on the scenario: the test was told to abort (its
 * runner skips to rewind + resume) and the failover must be requested again once it finished.
 */
export class ArTestAbortingError extends OperationInProgressError {
  constructor(operationId: string) {
    super(operationId);
    this.message = `an AR test is running on this scenario (${operationId}); it is being aborted, retry the failover in a few seconds`;
  }
}

export interface OperationRequest {
  scenarioId: string;
  type: OperationType;
  trigger: 'auto' | 'manual';
  requestedBy: string;
  reason: string;
  params?: Record<string, unknown>;
  /** the group whose action created this operation (group operations, switch-all-if-any-fails) */
  groupId?: string | null;
  /** narrows the states this request may start from (the detector must not fail over a failed-over member) */
  onlyFrom?: readonly string[];
}

export interface OperationView {
  id: string;
  scenarioId: string | null;
  groupId: string | null;
  type: OperationType;
  state: string;
  trigger: string;
  requestedBy: string;
  reason: string;
  params: Record<string, unknown>;
  epoch: number | null;
  error: string | null;
  createdAt: Date;
  startedAt: Date | null;
  finishedAt: Date | null;
  steps?: {
    position: number;
    name: string;
    state: string;
    attempts: number;
    output: unknown;
    error: string | null;
    startedAt: Date | null;
    finishedAt: Date | null;
    durationMs: number | null;
  }[];
}

export function toOperationView(op: OperationEntity, steps?: OperationStepEntity[]): OperationView {
  return {
    id: op.id,
    scenarioId: op.scenarioId,
    groupId: op.groupId,
    type: op.type,
    state: op.state,
    trigger: op.trigger,
    requestedBy: op.requestedBy,
    reason: op.reason,
    params: op.params,
    epoch: op.epoch,
    error: op.error,
    createdAt: op.createdAt,
    startedAt: op.startedAt,
    finishedAt: op.finishedAt,
    steps: steps
      ?.sort((a, b) => a.position - b.position)
      .map((s) => ({
        position: s.position,
        name: s.name,
        state: s.state,
        attempts: s.attempts,
        output: s.output,
        error: s.error,
        startedAt: s.startedAt,
        finishedAt: s.finishedAt,
        durationMs: s.startedAt && s.finishedAt ? s.finishedAt.getTime() - s.startedAt.getTime() : null,
      })),
  };
}

@Injectable()
export class OperationsService {
  constructor(
    private readonly dataSource: DataSource,
    @InjectRepository(OperationEntity) private readonly ops: Repository<OperationEntity>,
    @InjectRepository(OperationStepEntity) private readonly steps: Repository<OperationStepEntity>,
    private readonly audit: AuditService,
    private readonly queue: OperationsQueue,
    private readonly redis: RedisService,
    private readonly topology: TopologyService,
  ) {}

  async request(req: OperationRequest): Promise<OperationView> {
    const plan = planFor(req.type, req.params);
    if (!plan) throw new InvalidStateError(`${req.type} operations are not available`);
    // Fail static: without Redis no operation can run, so none is started.
    await this.redis.client.ping().catch(() => {
      throw new TransientError('Redis is unreachable: no operation can start until it is back');
    });
    let op: OperationEntity | { abortedArTest: string };
    try {
      op = await this.dataSource.transaction(async (m) => {
        const scenario = await m
          .getRepository(ScenarioEntity)
          .findOne({ where: { id: req.scenarioId }, lock: { mode: 'pessimistic_write' } });
        if (!scenario) throw new NotFoundError('scenario', req.scenarioId);
        const running = await m.getRepository(OperationEntity).findOne({
          where: { scenarioId: scenario.id, state: In(['pending', 'running']) },
        });
        if (
          running?.type === 'ar-test' &&
          req.type === 'failover' &&
          (!req.onlyFrom || req.onlyFrom.includes('ar_testing'))
        ) {
          // Production failing must never wait on a test: flag the test; its runner skips straight
          // to rewind + resume, and the failover (retried by its requester) then finds `running`.
          if (running.params.abortRequested !== true) {
            await m.query(`UPDATE operations SET params = params || $2::jsonb WHERE id = $1`, [
              running.id,
              JSON.stringify({ abortRequested: true, abortReason: `${req.trigger} failover: ${req.reason}` }),
            ]);
            log.warn({ operationId: running.id, scenarioId: scenario.id }, 'AR test aborted for a failover');
          }
          return { abortedArTest: running.id };
        }
        if (running) throw new OperationInProgressError(running.id);
        const allowed = (ALLOWED_FROM[req.type] ?? []).filter(
          (st) => !req.onlyFrom || req.onlyFrom.includes(st),
        );
        if (!allowed.includes(scenario.state)) {
          throw new InvalidStateError(
            `cannot ${req.type} a scenario that is ${scenario.state} (allowed from: ${allowed.join(', ')})`,
            { state: scenario.state },
          );
        }
        await this.assertTarget(m, scenario, req);
        const created = await m.getRepository(OperationEntity).save(
          m.getRepository(OperationEntity).create({
            scenarioId: scenario.id,
            groupId: req.groupId ?? null,
            type: req.type,
            state: 'pending',
            trigger: req.trigger,
            requestedBy: req.requestedBy,
            reason: req.reason,
            params: {
              ...(req.params ?? {}),
              previousState: scenario.state,
              previousActiveNodeId: scenario.activeNodeId,
            },
            // An AR test never bumps the epoch: its agent actions carry the current one.
            epoch: req.type === 'ar-test' ? scenario.epoch : null,
            error: null,
            startedAt: null,
            finishedAt: null,
          }),
        );
        await m.getRepository(OperationStepEntity).insert(
          plan.map((name, position) => ({
            operationId: created.id,
            position,
            name,
            state: 'pending' as const,
          })),
        );
        await m
          .getRepository(ScenarioEntity)
          .update(scenario.id, { state: RUNNING_STATE[req.type] as never });
        await this.audit.record(
          {
            actor: req.requestedBy,
            action: `operation.${req.type}.requested`,
            targetType: 'scenario',
            targetId: scenario.id,
            reason: req.reason,
            details: {
              operationId: created.id,
              trigger: req.trigger,
              params: req.params ?? {},
              ...(req.groupId && { groupId: req.groupId }),
            },
          },
          m,
        );
        return created;
      });
    } catch (err) {
      if (err instanceof QueryFailedError && (err as unknown as { code?: string }).code === '23505') {
        const running = await this.ops.findOne({
          where: { scenarioId: req.scenarioId, state: In(['pending', 'running']) },
        });
        throw new OperationInProgressError(running?.id ?? 'unknown');
      }
      throw err;
    }
    if ('abortedArTest' in op) throw new ArTestAbortingError(op.abortedArTest);
    log.info(
      {
        operationId: op.id,
        type: op.type,
        scenarioId: op.scenarioId,
        groupId: op.groupId,
        trigger: op.trigger,
      },
      'operation requested',
    );
    await this.topology.changed().catch(() => undefined);
    await this.queue.enqueueStep(op.id, 0).catch((err: Error) => {
      // The reconciler queues it as soon as Redis answers again.
      log.warn({ err: err.message, operationId: op.id }, 'could not queue the first step yet');
    });
    return toOperationView(op, await this.steps.find({ where: { operationId: op.id } }));
  }

  /** A requested target must be a node of the scenario (and, except to keep one in a split state, not the active one). */
  private async assertTarget(
    m: EntityManager,
    scenario: ScenarioEntity,
    req: OperationRequest,
  ): Promise<void> {
    const target = req.params?.targetNodeId;
    if (typeof target !== 'string') return;
    const field = req.type === 'active-server-recovery' ? 'activeNodeId' : 'targetNodeId';
    const replicas = await m
      .getRepository(ScenarioReplicaEntity)
      .find({ where: { scenarioId: scenario.id } });
    if (![scenario.productionNodeId, ...replicas.map((r) => r.nodeId)].includes(target)) {
      throw new InvalidInputError(
        `${field}: node ${target} is not a node of scenario ${scenario.name}`,
        field,
      );
    }
    if (req.type !== 'active-server-recovery' && target === scenario.activeNodeId) {
      throw new InvalidInputError(`${field}: node ${target} is already the active node`, field);
    }
  }

  async get(id: string): Promise<OperationView> {
    const op = await this.ops.findOne({ where: { id } });
    if (!op) throw new NotFoundError('operation', id);
    return toOperationView(op, await this.steps.find({ where: { operationId: id } }));
  }

  async list(filter: {
    scenarioId?: string;
    groupId?: string;
    type?: string;
    state?: string;
    trigger?: string;
    limit: number;
    offset: number;
  }): Promise<Page<OperationView>> {
    const qb = this.ops
      .createQueryBuilder('o')
      .orderBy('o.createdAt', 'DESC')
      .take(filter.limit)
      .skip(filter.offset);
    if (filter.scenarioId) qb.andWhere('o.scenarioId = :s', { s: filter.scenarioId });
    if (filter.groupId) qb.andWhere('o.groupId = :g', { g: filter.groupId });
    if (filter.type) qb.andWhere('o.type = :t', { t: filter.type });
    if (filter.state) qb.andWhere('o.state = :st', { st: filter.state });
    if (filter.trigger) qb.andWhere('o.trigger = :tr', { tr: filter.trigger });
    const [items, total] = await qb.getManyAndCount();
    return { items: items.map((o) => toOperationView(o)), total, limit: filter.limit, offset: filter.offset };
  }

  async activeFor(scenarioId: string): Promise<OperationEntity | null> {
    return this.ops.findOne({ where: { scenarioId, state: In(['pending', 'running']) } });
  }
}
