/**
 * Runs one step job: resumes at the first step not done, marks it running, calls its handler,
 * and commits "step done" together with the state change the step causes (one transaction).
 * Retryable errors go back to BullMQ (backoff); unrecoverable ones fail the operation at once
 * and leave the scenario in a documented state: its previous state when no node was touched yet,
 * `degraded` otherwise (the operation timeline shows which step stopped).
 */
import { randomUUID } from 'node:crypto';
import { Injectable, OnApplicationBootstrap, OnApplicationShutdown } from '@nestjs/common';
import { Job, UnrecoverableError } from 'bullmq';
import { DataSource, EntityManager, In } from 'typeorm';
import { AuditService } from '../audit/audit.service';
import { DomainError, PreCheckFailedError, StaleEpochError } from '../common/errors';
import { insertDecision } from '../decisions/decision-insert';
import { createLogger, logContext } from '../common/logger';
import { AppConfig } from '../config/app-config';
import { EventEntity } from '../detection/event.entity';
import { MetricsService } from '../metrics/metrics.service';
import { NotificationsService } from '../notify/notifications.service';
import { RedisService } from '../redis/redis.service';
import { ScenarioEntity } from '../scenarios/scenario.entity';
import { TopologyService } from '../topology/topology.service';
import { OperationEntity, OperationStepEntity } from './operation.entity';
import { CLEANUP_STEPS, SIDE_EFFECT_STEPS } from './operation-plans';
import { batchJobId, OperationsQueue, STEP_ATTEMPTS, StepJobData } from './operations.queue';
import { BatchRunner } from './batch-runner';
import { isRetryable } from './step-retry';
import { StepContext, StepHandlers } from './step-handlers';

const log = createLogger('StepRunner');

/** ar-suspend refused before the agent ran anything: the replica is untouched, no cleanup needed. */
function arNothingRan(step: string, err: unknown): boolean {
  return step === 'ar-suspend' && (err instanceof PreCheckFailedError || err instanceof StaleEpochError);
}

export { isRetryable, retryDelayMs } from './step-retry';

@Injectable()
export class StepRunner implements OnApplicationBootstrap, OnApplicationShutdown {
  private reconciler: NodeJS.Timeout | null = null;
  private reconciling = false;
  private readonly batches: BatchRunner;

  constructor(
    private readonly config: AppConfig,
    private readonly dataSource: DataSource,
    private readonly queue: OperationsQueue,
    private readonly redis: RedisService,
    private readonly handlers: StepHandlers,
    private readonly audit: AuditService,
    private readonly metrics: MetricsService,
    private readonly topology: TopologyService,
    private readonly notifications: NotificationsService,
  ) {
    this.batches = new BatchRunner(this, dataSource, queue, handlers, metrics, topology);
  }

  onApplicationBootstrap(): void {
    if (!this.config.roles.has('worker')) return;
    this.queue.startWorker((job) => this.process(job), this.redis);
    this.reconciler = setInterval(() => void this.reconcile(), 1000);
    this.reconciler.unref();
  }

  onApplicationShutdown(): void {
    if (this.reconciler) clearInterval(this.reconciler);
  }

  /**
   * Re-queue the first unfinished step of every active operation (duplicates are no-ops); for a
   * batch, its step job at the earliest position its operations are at. A batch job that failed
   * (its own plumbing could not reach PostgreSQL or Redis) is replaced: a batch never stops.
   */
  async reconcile(): Promise<void> {
    // One round at a time: a round over many operations may take longer than the interval.
    if (this.reconciling) return;
    this.reconciling = true;
    try {
      const rows: { operationId: string; position: number; batchId: string | null }[] =
        await this.dataSource.query(
          `SELECT DISTINCT ON (s."operationId") s."operationId", s.position, o."batchId"
           FROM operation_steps s JOIN operations o ON o.id = s."operationId"
          WHERE o.state IN ('pending','running') AND s.state NOT IN ('done','skipped','failed')
          ORDER BY s."operationId", s.position`,
        );
      const batches = new Map<string, number>();
      for (const r of rows) {
        if (r.batchId) {
          batches.set(r.batchId, Math.min(batches.get(r.batchId) ?? Infinity, r.position));
          continue;
        }
        // A failed job of an operation still active: its outcome was never recorded (PostgreSQL
        // was down when the job ran out of attempts). Its id would block a new job: remove it.
        const job = await this.queue.queue.getJob(`${r.operationId}.${r.position}`);
        if (job && (await job.isFailed())) await job.remove();
        else if (job) continue;
        await this.queue.enqueueStep(r.operationId, r.position);
      }
      for (const [batchId, position] of batches) {
        const job = await this.queue.queue.getJob(batchJobId(batchId, position));
        if (job && (await job.isFailed())) await job.remove();
        else if (job) continue;
        await this.queue.enqueueBatchStep(batchId, position);
      }
    } catch (err) {
      log.debug({ err: (err as Error).message }, 'reconcile skipped');
    } finally {
      this.reconciling = false;
    }
  }

  process(job: Job<StepJobData>): Promise<string> {
    const data = job.data;
    if ('batchId' in data) {
      return logContext.run({ batchId: data.batchId }, () =>
        this.batches.run(data.batchId, data.position, job.attemptsMade + 1 >= STEP_ATTEMPTS),
      );
    }
    return logContext.run({ operationId: data.operationId }, () =>
      this.processStep(job as Job<{ operationId: string; position: number }>),
    );
  }

  private async processStep(job: Job<{ operationId: string; position: number }>): Promise<string> {
    const { operationId, position } = job.data;
    const opRepo = this.dataSource.getRepository(OperationEntity);
    const stepRepo = this.dataSource.getRepository(OperationStepEntity);
    const op = await opRepo.findOne({ where: { id: operationId } });
    if (!op || op.state === 'succeeded' || op.state === 'failed') return 'operation finished';
    const steps = (await stepRepo.find({ where: { operationId } })).sort((a, b) => a.position - b.position);
    // A `failed` step inside a running operation is an AR step whose cleanup steps still run.
    const step = steps.find((s) => s.state !== 'done' && s.state !== 'skipped' && s.state !== 'failed');
    if (!step) return 'nothing to do';
    if (op.batchId) {
      // Its batch's job runs this step (a stale job, or the reconciler raced a batch leaving).
      await this.queue.enqueueBatchStep(op.batchId, step.position);
      return `runs in batch ${op.batchId}`;
    }
    if (step.position !== position) {
      // Stale or early job: make sure the real next step is queued.
      await this.queue.enqueueStep(operationId, step.position);
      return `resumed at step ${step.position}`;
    }
    if (op.type === 'ar-test' && op.params.abortRequested === true && !CLEANUP_STEPS.has(step.name)) {
      log.warn({ step: step.name, reason: op.params.abortReason }, 'AR test aborted: skipping to cleanup');
      return this.skipToCleanup(op, steps, null);
    }
    const now = new Date();
    await stepRepo.update(step.id, {
      state: 'running',
      attempts: () => '"attempts" + 1',
      startedAt: step.startedAt ?? now,
      error: null,
    } as never);
    if (op.state === 'pending') {
      await opRepo.update(op.id, { state: 'running', startedAt: now });
      this.announce(op, null);
    }
    step.attempts += 1;
    step.startedAt ??= now;
    const scenario = await this.dataSource
      .getRepository(ScenarioEntity)
      .findOne({ where: { id: op.scenarioId! }, relations: { replicas: true } });
    if (!scenario) throw new UnrecoverableError(`scenario ${op.scenarioId} vanished`);

    const isLast = step.position === steps.length - 1;
    let finished = false;
    const ctx: StepContext = {
      op,
      step,
      scenario,
      attempt: step.attempts,
      finish: async (output, mutate) => {
        await this.dataSource.transaction(async (m) => {
          if (mutate) await mutate(m);
          await m.getRepository(OperationStepEntity).update(step.id, {
            state: 'done',
            output: output as never,
            finishedAt: new Date(),
            error: null,
          });
          if (isLast) await this.succeed(m, op);
        });
        finished = true;
      },
    };
    log.info({ step: step.name, position, attempt: step.attempts }, 'step started');
    try {
      const output = await this.handlers.run(step.name, ctx);
      if (!finished) await ctx.finish(output ?? {});
    } catch (err) {
      const e = err as Error;
      const retry = isRetryable(err) && job.attemptsMade + 1 < STEP_ATTEMPTS;
      if (retry) {
        await stepRepo.update(step.id, { error: e.message.slice(0, 2000) }).catch(() => undefined);
        log.warn({ step: step.name, err: e.message, attempt: step.attempts }, 'step failed; will retry');
        throw err;
      }
      if (op.type === 'ar-test' && !CLEANUP_STEPS.has(step.name) && !arNothingRan(step.name, err)) {
        // A broken AR step never leaves the replica suspended: record it, then rewind + resume.
        await this.skipToCleanup(op, steps, { step, err: e }).catch((fe: Error) =>
          log.error({ err: fe.message }, 'could not move the AR test to its cleanup'),
        );
        throw new UnrecoverableError(e.message);
      }
      let recorded = true;
      await this.fail(op, step, steps, e, arNothingRan(step.name, err)).catch((fe: Error) => {
        recorded = false;
        log.error(
          { err: fe.message, stepError: e.message },
          'could not record the failure; the step runs again (PostgreSQL unreachable?)',
        );
      });
      // Unrecorded, the operation would stay running with no job: let BullMQ retry the step (and the
      // reconciler re-queue it should the attempts run out) until the outcome can be written.
      if (!recorded) throw err;
      throw new UnrecoverableError(e.message);
    }
    log.info({ step: step.name, position }, 'step done');
    this.announce(op, step);
    if (isLast) {
      const final = (await opRepo.findOne({ where: { id: op.id } }))?.state ?? 'succeeded';
      this.metrics.operations.inc({ type: op.type, trigger: op.trigger, state: final });
      this.metrics.operationDuration.observe({ type: op.type }, (Date.now() - op.createdAt.getTime()) / 1000);
      log.info({ type: op.type, ms: Date.now() - op.createdAt.getTime() }, `operation ${final}`);
      await this.topology.changed().catch(() => undefined);
    } else {
      await this.queue.enqueueStep(operationId, position + 1);
    }
    return 'done';
  }

  /**
   * operation-started (step null) and step-finished webhooks: queued in the background, and only
   * when a subscription wants them, so a step never waits for them.
   */
  announce(op: OperationEntity, step: OperationStepEntity | null): void {
    const kind = step ? 'step-finished' : 'operation-started';
    if (!this.notifications.wants(kind, op.scenarioId)) return;
    const finishedAt = Date.now();
    this.notifications
      .publish(
        step ? `operation.${op.id}.step.${step.position}.${step.attempts}` : `operation.${op.id}.started`,
        {
          kind,
          severity: 'info',
          message: step ? `${op.type}: ${step.name} done` : `${op.type} started (${op.trigger})`,
          scenarioId: op.scenarioId,
          operationId: op.id,
          details: step
            ? {
                type: op.type,
                step: step.name,
                position: step.position,
                attempts: step.attempts,
                durationMs: step.startedAt ? finishedAt - step.startedAt.getTime() : null,
              }
            : {
                type: op.type,
                trigger: op.trigger,
                epoch: op.epoch,
                requestedBy: op.requestedBy,
                reason: op.reason,
              },
        },
      )
      .catch((e: Error) => log.warn({ err: e.message }, 'webhook not queued'));
  }

  async succeed(m: EntityManager, op: OperationEntity): Promise<void> {
    // An AR test whose cleanup ran to the end still failed as an operation when one of its steps
    // broke or it was aborted (the test result itself is params.arResult, not the state).
    const fresh = await m.getRepository(OperationEntity).findOne({ where: { id: op.id } });
    const p = fresh?.params ?? op.params;
    const error =
      typeof p.failure === 'string'
        ? p.failure
        : p.abortRequested === true
          ? `aborted: ${String(p.abortReason ?? 'failover requested')}`
          : null;
    await m
      .getRepository(OperationEntity)
      .update(op.id, { state: error ? 'failed' : 'succeeded', finishedAt: new Date(), error });
  }

  /**
   * AR test: mark the failed step (if any), skip every step that is not cleanup, and queue the first
   * cleanup step. The operation stays running until ar-resume puts the scenario back.
   */
  private async skipToCleanup(
    op: OperationEntity,
    steps: OperationStepEntity[],
    failed: { step: OperationStepEntity; err: Error } | null,
  ): Promise<string> {
    const cleanup = steps.find((s) => CLEANUP_STEPS.has(s.name));
    if (!cleanup) throw new Error(`${op.type} has no cleanup step`);
    await this.dataSource.transaction(async (m) => {
      const stepRepo = m.getRepository(OperationStepEntity);
      if (failed) {
        await stepRepo.update(failed.step.id, {
          state: 'failed',
          error: failed.err.message.slice(0, 2000),
          finishedAt: new Date(),
        });
        await m.query(`UPDATE operations SET params = params || $2::jsonb WHERE id = $1`, [
          op.id,
          JSON.stringify({ failure: `${failed.step.name}: ${failed.err.message}`.slice(0, 1000) }),
        ]);
      }
      for (const s of steps) {
        if (CLEANUP_STEPS.has(s.name) || s.state === 'done' || s.id === failed?.step.id) continue;
        await stepRepo.update(s.id, { state: 'skipped', finishedAt: new Date() });
      }
      await m.getRepository(EventEntity).insert({
        kind: failed ? 'ar-test-step-failed' : 'ar-test-aborted',
        severity: 'warning',
        scenarioId: op.scenarioId,
        nodeId: null,
        message: (failed
          ? `AR test step ${failed.step.name} failed (${failed.err.message}); rewinding and resuming the replica`
          : `AR test aborted (${String(op.params.abortReason ?? 'failover requested')}); rewinding and resuming the replica`
        ).slice(0, 1000),
        details: { operationId: op.id, step: failed?.step.name ?? null } as never,
      });
    });
    await this.queue.enqueueStep(op.id, cleanup.position);
    return `skipped to ${cleanup.name}`;
  }

  /** `reload: false` when the caller reloads the topology once for many failures (a batch). */
  async fail(
    op: OperationEntity,
    step: OperationStepEntity,
    steps: OperationStepEntity[],
    err: Error,
    nothingRan = false,
    reload = true,
  ) {
    const touched =
      !nothingRan &&
      steps.some(
        (s) =>
          SIDE_EFFECT_STEPS.has(s.name) &&
          (s.state !== 'pending' || s.id === step.id) &&
          s.position <= step.position,
      );
    const previous = String(op.params.previousState ?? 'running');
    // No replica satisfied the promotion policy: an alert of its own, with each candidate's reasons.
    const noTarget =
      err instanceof DomainError && err.details.noEligibleTarget === true ? err.details.candidates : null;
    const scenarioState = touched ? 'degraded' : previous;
    await this.dataSource.transaction(async (m) => {
      await m
        .getRepository(OperationStepEntity)
        .update(step.id, { state: 'failed', error: err.message.slice(0, 2000), finishedAt: new Date() });
      await m
        .getRepository(OperationStepEntity)
        .update({ operationId: op.id, state: In(['pending']) }, { state: 'skipped' });
      await m.getRepository(OperationEntity).update(op.id, {
        state: 'failed',
        error: `${step.name}: ${err.message}`.slice(0, 2000),
        finishedAt: new Date(),
      });
      await m.getRepository(ScenarioEntity).update(op.scenarioId!, { state: scenarioState as never });
      await m.getRepository(EventEntity).insert({
        kind: 'operation-failed',
        severity: 'critical',
        scenarioId: op.scenarioId,
        nodeId: null,
        message: `${op.type} failed at ${step.name}: ${err.message}`.slice(0, 1000),
        details: { operationId: op.id, step: step.name, scenarioState } as never,
      });
      if (noTarget) {
        await m.getRepository(EventEntity).insert({
          kind: 'no-eligible-replica',
          severity: 'critical',
          scenarioId: op.scenarioId,
          nodeId: null,
          message: `${op.type} of ${op.scenarioId} stopped, nothing promoted: ${err.message}`.slice(0, 1000),
          details: { operationId: op.id, candidates: noTarget } as never,
        });
        // An automatic failover the policy stopped: a decision not to promote, beside the detector's
        // decision to fail over (the scenario's decision log says both).
        if (op.trigger === 'auto' && op.scenarioId) {
          const sc = await m.getRepository(ScenarioEntity).findOne({ where: { id: op.scenarioId } });
          if (sc)
            await insertDecision(m, {
              id: randomUUID(),
              scenarioId: sc.id,
              nodeId: sc.activeNodeId,
              epoch: sc.epoch,
              outcome: 'no-action',
              rule: 'policy',
              message: `no automatic promotion: ${err.message}`,
              evidence: { candidates: noTarget },
              thresholds: {
                maxLagSeconds: sc.policy.maxLagSeconds,
                requiredLabels: sc.policy.requiredLabels ?? {},
                allowCrossSite: sc.policy.allowCrossSite ?? true,
              },
              operationId: op.id,
              dedupKey: `${sc.id}/policy/${op.id}`,
              decidedBy: 'worker',
            });
        }
      }
      await this.audit.record(
        {
          actor: 'system',
          action: `operation.${op.type}.failed`,
          targetType: 'scenario',
          targetId: op.scenarioId,
          reason: err.message.slice(0, 1000),
          details: { operationId: op.id, step: step.name, scenarioState },
        },
        m,
      );
    });
    await this.notifications
      .publish(`operation.${op.id}.failed`, {
        kind: 'operation-failed',
        severity: 'critical',
        message: `${op.type} failed at ${step.name}: ${err.message}`.slice(0, 1000),
        scenarioId: op.scenarioId,
        operationId: op.id,
        details: {
          type: op.type,
          step: step.name,
          scenarioState,
          ...(typeof op.params.decisionId === 'string' && { decisionId: op.params.decisionId }),
        },
      })
      .catch((e: Error) => log.warn({ err: e.message }, 'webhook not queued'));
    if (noTarget) {
      await this.notifications
        .publish(`operation.${op.id}.no-eligible-replica`, {
          kind: 'no-eligible-replica',
          severity: 'critical',
          message: `${op.type} stopped, nothing promoted: ${err.message}`.slice(0, 1000),
          scenarioId: op.scenarioId,
          operationId: op.id,
          details: { candidates: noTarget },
        })
        .catch((e: Error) => log.warn({ err: e.message }, 'webhook not queued'));
    }
    this.metrics.operations.inc({ type: op.type, trigger: op.trigger, state: 'failed' });
    log.error({ step: step.name, err: err.message, scenarioState }, 'operation failed');
    if (reload) await this.topology.changed().catch(() => undefined);
  }
}
