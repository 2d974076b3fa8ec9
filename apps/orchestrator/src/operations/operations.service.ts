/**
 * Creates operations (one per scenario at a time, enforced by a unique partial index) and reads
 * them. Creation locks the scenario row, checks the state allows the operation, moves the
 * scenario into its transient state, inserts the operation with all its steps, and writes the
 * audit entry — one transaction. The first step is then queued.
 */
import { randomUUID } from 'node:crypto';
import { Injectable } from '@nestjs/common';
import { InjectRepository } from '@nestjs/typeorm';
import { DataSource, EntityManager, In, Repository } from 'typeorm';
import { AuditInput, AuditService } from '../audit/audit.service';
import { isUniqueViolation } from '../nodes/nodes.service';
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
import { pushTo } from '../common/push-to';

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

export type OperationResult = { operation: OperationView } | { error: Error };

/** Scenarios decided in one transaction by requestMany (without a batch). */
const REQUEST_CHUNK = 250;
/** Most operations in one batch (one transaction, one job per step). */
export const MAX_BATCH = 5000;

export interface OperationView {
  id: string;
  scenarioId: string | null;
  groupId: string | null;
  /** shared by operations requested together; null once an operation goes on alone */
  batchId: string | null;
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
  /** the detector's decision that requested it (GET /api/v1/decisions/{id}); null for an operator's */
  decisionId: string | null;
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
  /** With the steps: when users were moved, as an operator reads it (see operationMilestones). */
  milestones?: OperationMilestones;
}

export interface OperationMilestones {
  /** "DNS updated": verify-dns done (the authoritative server answers the new address) */
  dnsUpdatedAt: Date | null;
  /** "clients moved": every configured resolver answers the new address and the probe succeeded */
  clientsMovedAt: Date | null;
  /** moved, not-moved (gave up after TTL + margin + grace; warned), not-configured, pending; null: not reached */
  clients: 'moved' | 'not-moved' | 'not-configured' | 'pending' | null;
}

/**
 * Milestones derived from the steps (no column of their own): dnsUpdatedAt is verify-dns's finish,
 * clientsMovedAt the moment verify-clients saw the last resolver/probe move (in its output).
 * Operations without these steps (start, stop, AR tests) have nulls.
 */
export function operationMilestones(steps: OperationStepEntity[]): OperationMilestones {
  const dns = steps.find((s) => s.name === 'verify-dns');
  const clients = steps.find((s) => s.name === 'verify-clients');
  const out = (clients?.output ?? {}) as { clientsMoved?: boolean | null; clientsMovedAt?: string | null };
  return {
    dnsUpdatedAt: dns?.state === 'done' ? dns.finishedAt : null,
    clientsMovedAt: clients?.state === 'done' && out.clientsMovedAt ? new Date(out.clientsMovedAt) : null,
    clients: !clients
      ? null
      : clients.state === 'skipped' || clients.state === 'failed'
        ? null
        : clients.state !== 'done'
          ? 'pending'
          : out.clientsMoved === true
            ? 'moved'
            : out.clientsMoved === false
              ? 'not-moved'
              : 'not-configured',
  };
}

export function toOperationView(op: OperationEntity, steps?: OperationStepEntity[]): OperationView {
  return {
    id: op.id,
    scenarioId: op.scenarioId,
    groupId: op.groupId,
    batchId: op.batchId,
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
    decisionId: typeof op.params?.decisionId === 'string' ? op.params.decisionId : null,
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
    ...(steps && { milestones: operationMilestones(steps) }),
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
    const [r] = await this.requestMany([req]);
    if ('error' in r) throw r.error;
    return r.operation;
  }

  /**
   * Creates many operations at once (a host carrying many scenarios died; a bulk API call): the
   * same rules as one request, decided per scenario, written in a few transactions of up to
   * REQUEST_CHUNK scenarios (scenario rows locked in id order, operations, steps, state changes and
   * audit entries inserted in bulk), then one topology reload and one bulk enqueue of first steps.
   * Each result is the operation or the error that scenario got; one refusal never blocks the others.
   */
  async requestMany(reqs: OperationRequest[], opts: { batch?: boolean } = {}): Promise<OperationResult[]> {
    // Batched operations run each step as one job for all of them (BatchRunner), up to MAX_BATCH
    // operations a batch (a bigger request makes several batches).
    const batched = opts.batch === true && reqs.length > 1;
    const t0 = Date.now();
    const results: (OperationResult | { created: string } | undefined)[] = new Array(reqs.length);
    const planned = reqs.map((req, i) => {
      const plan = planFor(req.type, req.params);
      if (!plan) results[i] = { error: new InvalidStateError(`${req.type} operations are not available`) };
      return plan;
    });
    const todo = reqs.map((_, i) => i).filter((i) => !results[i]);
    if (todo.length === 0) return results as OperationResult[];
    // Fail static: without Redis no operation can run, so none is started.
    const redisUp = await this.redis.client.ping().then(
      () => true,
      () => false,
    );
    if (!redisUp) {
      for (const i of todo) {
        results[i] = {
          error: new TransientError('Redis is unreachable: no operation can start until it is back'),
        };
      }
      return results as OperationResult[];
    }
    const created: OperationEntity[] = [];
    // A batch is created in one transaction: its step job must never see half of it.
    const chunkSize = batched ? MAX_BATCH : REQUEST_CHUNK;
    for (let from = 0; from < todo.length; from += chunkSize) {
      const chunk = todo.slice(from, from + chunkSize);
      const batchId = batched && chunk.length > 1 ? randomUUID() : null;
      try {
        created.push(
          ...(await this.createChunk(
            chunk.map((i) => ({ i, req: reqs[i], plan: planned[i]! })),
            results,
            batchId,
          )),
        );
      } catch (err) {
        if (chunk.length > 1 && isUniqueViolation(err)) {
          // A concurrent request won one of these scenarios: decide them one by one.
          for (const i of chunk) {
            try {
              created.push(
                ...(await this.createChunk([{ i, req: reqs[i], plan: planned[i]! }], results, batchId)),
              );
            } catch (e) {
              results[i] = { error: await this.asInProgress(reqs[i], e) };
            }
          }
          continue;
        }
        for (const i of chunk) results[i] = { error: await this.asInProgress(reqs[i], err) };
      }
    }
    if (created.length === 0) return results as OperationResult[];
    const tCreated = Date.now();
    for (const op of created) {
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
    }
    await this.topology.changed().catch(() => undefined);
    const alone = created.filter((op) => !op.batchId);
    const batches = [...new Set(created.map((op) => op.batchId).filter((b): b is string => !!b))];
    await Promise.all([
      this.queue.enqueueFirstSteps(alone.map((op) => op.id)),
      ...batches.map((b) => this.queue.enqueueBatchStep(b, 0)),
    ]).catch((err: Error) => {
      // The reconciler queues them as soon as Redis answers again.
      log.warn({ err: err.message, operations: created.length }, 'could not queue the first steps yet');
    });
    const tQueued = Date.now();
    if (created.length > 20) {
      log.info(
        {
          operations: created.length,
          batches,
          ms: { create: tCreated - t0, topologyAndQueue: tQueued - tCreated },
        },
        'operations requested in bulk',
      );
    }
    // Bulk callers take ids and states; the steps (ten rows an operation) come with small requests only.
    const steps =
      created.length <= 50
        ? await this.steps.find({ where: { operationId: In(created.map((o) => o.id)) } })
        : [];
    const byOp = new Map<string, OperationStepEntity[]>();
    for (const st of steps) pushTo(byOp, st.operationId, st);
    const views = new Map(
      created.map((op) => [
        op.id,
        toOperationView(op, created.length <= 50 ? (byOp.get(op.id) ?? []) : undefined),
      ]),
    );
    return results.map((r) => {
      if (r && 'created' in r) return { operation: views.get(r.created)! };
      return r!;
    }) as OperationResult[];
  }

  /** One transaction: lock the scenarios, decide each request, insert what is allowed. */
  private async createChunk(
    items: { i: number; req: OperationRequest; plan: readonly string[] }[],
    results: (OperationResult | { created: string } | undefined)[],
    batchId: string | null,
  ): Promise<OperationEntity[]> {
    const aborted: { i: number; id: string }[] = [];
    const ops = await this.dataSource.transaction(async (m) => {
      const ids = [...new Set(items.map((x) => x.req.scenarioId))].sort();
      const scenarios = new Map(
        (
          await m
            .getRepository(ScenarioEntity)
            .createQueryBuilder('s')
            .setLock('pessimistic_write')
            .where('s.id IN (:...ids)', { ids })
            .orderBy('s.id')
            .getMany()
        ).map((sc) => [sc.id, sc]),
      );
      const active = new Map(
        (
          await m.getRepository(OperationEntity).find({
            where: { scenarioId: In(ids), state: In(['pending', 'running']) },
          })
        ).map((o) => [o.scenarioId!, o]),
      );
      const rows: OperationEntity[] = [];
      const stepRows: Pick<OperationStepEntity, 'operationId' | 'position' | 'name' | 'state'>[] = [];
      const audits: AuditInput[] = [];
      const newState = new Map<string, string[]>();
      for (const { i, req, plan } of items) {
        try {
          const scenario = scenarios.get(req.scenarioId);
          if (!scenario) throw new NotFoundError('scenario', req.scenarioId);
          const running = active.get(scenario.id);
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
                JSON.stringify({
                  abortRequested: true,
                  abortReason: `${req.trigger} failover: ${req.reason}`,
                }),
              ]);
              running.params.abortRequested = true;
              log.warn(
                { operationId: running.id, scenarioId: scenario.id },
                'AR test aborted for a failover',
              );
            }
            aborted.push({ i, id: running.id });
            continue;
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
          const id = randomUUID();
          const op = m.getRepository(OperationEntity).create({
            id,
            // AR tests never share a batch: their plans differ and their cleanup must run alone.
            batchId: req.type === 'ar-test' ? null : batchId,
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
          });
          rows.push(op);
          // The same scenario twice in one batch: the second finds the first in progress.
          active.set(scenario.id, op);
          stepRows.push(
            ...plan.map((name, position) => ({ operationId: id, position, name, state: 'pending' as const })),
          );
          const state = RUNNING_STATE[req.type]!;
          const moving = newState.get(state);
          if (moving) moving.push(scenario.id);
          else newState.set(state, [scenario.id]);
          audits.push({
            actor: req.requestedBy,
            action: `operation.${req.type}.requested`,
            targetType: 'scenario',
            targetId: scenario.id,
            reason: req.reason,
            details: {
              operationId: id,
              trigger: req.trigger,
              params: req.params ?? {},
              ...(req.groupId && { groupId: req.groupId }),
            },
          });
          results[i] = { created: id };
        } catch (err) {
          results[i] = { error: err as Error };
        }
      }
      if (rows.length === 0) return [];
      const inserted: { id: string; createdAt: Date }[] = await m.query(
        `INSERT INTO operations (id, "batchId", "scenarioId", "groupId", type, state, trigger, "requestedBy", reason, params, epoch)
         SELECT * FROM unnest($1::uuid[], $2::uuid[], $3::uuid[], $4::uuid[], $5::varchar[], $6::varchar[],
                              $7::varchar[], $8::varchar[], $9::varchar[], $10::jsonb[], $11::int[])
         RETURNING id, "createdAt"`,
        [
          rows.map((o) => o.id),
          rows.map((o) => o.batchId),
          rows.map((o) => o.scenarioId),
          rows.map((o) => o.groupId),
          rows.map((o) => o.type),
          rows.map((o) => o.state),
          rows.map((o) => o.trigger),
          rows.map((o) => o.requestedBy),
          rows.map((o) => o.reason),
          rows.map((o) => JSON.stringify(o.params)),
          rows.map((o) => o.epoch),
        ],
      );
      const createdAt = new Map(inserted.map((r) => [r.id, new Date(r.createdAt)]));
      for (const o of rows) o.createdAt = createdAt.get(o.id)!;
      await m.query(
        `INSERT INTO operation_steps ("operationId", position, name, state)
         SELECT * FROM unnest($1::uuid[], $2::int[], $3::varchar[], $4::varchar[])`,
        [
          stepRows.map((r) => r.operationId),
          stepRows.map((r) => r.position),
          stepRows.map((r) => r.name),
          stepRows.map((r) => r.state),
        ],
      );
      for (const [state, scenarioIds] of newState) {
        await m.getRepository(ScenarioEntity).update({ id: In(scenarioIds) }, { state: state as never });
      }
      await this.audit.recordMany(audits, m);
      return rows;
    });
    for (const a of aborted) results[a.i] = { error: new ArTestAbortingError(a.id) };
    return ops;
  }

  /** A unique violation on the one-active-operation index: someone else's operation runs. */
  private async asInProgress(req: OperationRequest, err: unknown): Promise<Error> {
    if (!isUniqueViolation(err)) return err as Error;
    const running = await this.ops.findOne({
      where: { scenarioId: req.scenarioId, state: In(['pending', 'running']) },
    });
    return new OperationInProgressError(running?.id ?? 'unknown');
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
