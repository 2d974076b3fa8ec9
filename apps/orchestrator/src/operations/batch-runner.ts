/**
 * Runs one step for every operation of a batch (operations requested together: a host carrying
 * many scenarios died, a bulk start). Same rules as StepRunner.processStep for each operation —
 * resume at its first step not done, mark it running, run its handler, commit "step done" with the
 * step's state change — but with one job for all of them instead of one each:
 *   - the operations, their steps and scenarios are read with three queries;
 *   - the handlers run concurrently (BATCH_STEP_CONCURRENCY), so their agent calls meet in the
 *     per-agent batches of AgentClient;
 *   - their "step done" commits are grouped into a few transactions (CommitGroup);
 *   - one job queues the next step for all that succeeded.
 * An operation whose step fails with a retryable error leaves the batch and goes on alone (its own
 * step jobs, backoff and attempts); an unrecoverable error fails that operation only. A crashed
 * worker's batch job is re-run like any step job: every step is idempotent.
 */
import { DataSource, EntityManager, In } from 'typeorm';
import { mapLimit } from '../common/coalesce';
import { createLogger, logContext } from '../common/logger';
import { MetricsService } from '../metrics/metrics.service';
import { ScenarioEntity } from '../scenarios/scenario.entity';
import { TopologyService } from '../topology/topology.service';
import { OperationEntity, OperationStepEntity } from './operation.entity';
import { OperationsQueue, STEP_ATTEMPTS } from './operations.queue';
import { StepContext, StepHandlers } from './step-handlers';
import { isRetryable, retryDelayMs } from './step-retry';
import { pushTo } from '../common/push-to';

const log = createLogger('BatchRunner');

/**
 * Handlers of one batch step running at once: their agent calls go out together, so this is also
 * the largest agent batch of a step (the handlers mostly wait for agents and PostgreSQL).
 */
export const BATCH_STEP_CONCURRENCY = 2000;
/** Most "step done" commits in one transaction. */
const COMMIT_GROUP = 250;

export interface BatchHost {
  succeed(m: EntityManager, op: OperationEntity): Promise<void>;
  fail(
    op: OperationEntity,
    step: OperationStepEntity,
    steps: OperationStepEntity[],
    err: Error,
    nothingRan?: boolean,
    reload?: boolean,
  ): Promise<void>;
  /** operation-started / step-finished webhooks (nothing queued when no subscription wants them) */
  announce(op: OperationEntity, step: OperationStepEntity | null): void;
}

interface Member {
  op: OperationEntity;
  steps: OperationStepEntity[];
  step: OperationStepEntity;
  scenario: ScenarioEntity;
}

interface Commit {
  member: Member;
  output: Record<string, unknown>;
  mutate?: (m: EntityManager) => Promise<void>;
  isLast: boolean;
  resolve: () => void;
  reject: (e: unknown) => void;
}

const unfinished = (s: OperationStepEntity) =>
  s.state !== 'done' && s.state !== 'skipped' && s.state !== 'failed';

export class BatchRunner {
  constructor(
    private readonly host: BatchHost,
    private readonly dataSource: DataSource,
    private readonly queue: OperationsQueue,
    private readonly handlers: StepHandlers,
    private readonly metrics: MetricsService,
    private readonly topology: TopologyService,
  ) {}

  /**
   * The step at `position` for every operation of the batch still at it. Throws (BullMQ retries
   * the job) only when the batch's own reads or writes fail; `lastAttempt` then sends every
   * operation on alone rather than let the job end failed.
   */
  async run(batchId: string, position: number, lastAttempt: boolean): Promise<string> {
    const started = Date.now();
    let members: Member[];
    try {
      members = await this.load(batchId, position);
    } catch (err) {
      if (lastAttempt) await this.dissolve(batchId).catch(() => undefined);
      throw err;
    }
    if (members.length === 0) return 'nothing to do';
    const stepName = members[0].step.name;
    const now = new Date();
    const stepIds = members.map((m) => m.step.id);
    await this.dataSource.query(
      `UPDATE operation_steps SET state = 'running', attempts = attempts + 1,
              "startedAt" = COALESCE("startedAt", $2), error = NULL
        WHERE id = ANY($1)`,
      [stepIds, now],
    );
    await this.dataSource.query(
      `UPDATE operations SET state = 'running', "startedAt" = $2 WHERE id = ANY($1) AND state = 'pending'`,
      [members.map((m) => m.op.id), now],
    );
    for (const m of members) {
      m.step.attempts += 1;
      m.step.startedAt ??= now;
      if (m.op.state === 'pending') {
        Object.assign(m.op, { state: 'running', startedAt: now });
        this.host.announce(m.op, null);
      }
    }
    log.info({ step: stepName, position, operations: members.length }, 'batch step started');

    const commits = new CommitGroup(this.dataSource, this.host);
    const results = this.handlers.hasMany(stepName)
      ? await this.runMany(stepName, members, commits)
      : await mapLimit(members, BATCH_STEP_CONCURRENCY, (m) =>
          logContext.run({ operationId: m.op.id, batchId }, () => this.runOne(m, commits)),
        );
    const advance: Member[] = [];
    const finished: Member[] = [];
    const retry: { m: Member; err: Error }[] = [];
    const failed: { m: Member; err: Error }[] = [];
    results.forEach((r, i) => {
      const m = members[i];
      if (r.status === 'fulfilled') {
        this.host.announce(m.op, m.step);
        if (m.step.position === m.steps.length - 1) finished.push(m);
        else advance.push(m);
        return;
      }
      const err = r.reason as Error;
      if (isRetryable(err) && m.step.attempts < STEP_ATTEMPTS) retry.push({ m, err });
      else failed.push({ m, err });
    });
    if (retry.length > 0) {
      await this.leave(
        retry.map((x) => x.m),
        retry.map((x) => x.err.message.slice(0, 2000)),
      );
      for (const { m, err } of retry.slice(0, 5)) {
        log.warn({ operationId: m.op.id, step: stepName, err: err.message }, 'step failed; will retry alone');
      }
      await Promise.all(
        retry.map(({ m }) => this.queue.enqueueStep(m.op.id, m.step.position, retryDelayMs(m.step.attempts))),
      );
    }
    for (const { m, err } of failed) {
      await this.host
        .fail(m.op, m.step, m.steps, err, false, false)
        .catch((fe: Error) =>
          log.error({ err: fe.message, operationId: m.op.id }, 'could not record failure'),
        );
    }
    for (const m of finished) {
      this.metrics.operations.inc({ type: m.op.type, trigger: m.op.trigger, state: 'succeeded' });
      this.metrics.operationDuration.observe(
        { type: m.op.type },
        (Date.now() - m.op.createdAt.getTime()) / 1000,
      );
    }
    if (advance.length > 0) await this.queue.enqueueBatchStep(batchId, position + 1);
    if (finished.length > 0 || failed.length > 0) await this.topology.changed().catch(() => undefined);
    log.info(
      {
        step: stepName,
        position,
        operations: members.length,
        done: advance.length + finished.length,
        retried: retry.length,
        failed: failed.length,
        ms: Date.now() - started,
      },
      finished.length > 0 ? `batch finished: ${finished.length} operations succeeded` : 'batch step done',
    );
    return 'done';
  }

  /** A step with a many-at-once form: one call for all members, committed in one transaction. */
  private async runMany(
    name: string,
    members: Member[],
    commits: CommitGroup,
  ): Promise<PromiseSettledResult<unknown>[]> {
    const byCtx = new Map<StepContext, Member>();
    const ctxs = members.map((m) => {
      const ctx = this.context(m, commits);
      byCtx.set(ctx, m);
      return ctx;
    });
    return this.handlers.runMany(name, ctxs, async (items, mutate) => {
      await this.dataSource.transaction(async (tx) => {
        const excluded = await mutate(tx);
        const done = items
          .filter((_, k) => !excluded.has(k))
          .map((x) => ({ m: byCtx.get(x.ctx)!, output: x.output }));
        if (done.length === 0) return;
        await markDone(
          tx,
          done.map((d) => d.m.step.id),
          done.map((d) => d.output),
        );
        for (const d of done)
          if (d.m.step.position === d.m.steps.length - 1) await this.host.succeed(tx, d.m.op);
      });
    });
  }

  private context(m: Member, commits: CommitGroup): StepContext {
    const isLast = m.step.position === m.steps.length - 1;
    return {
      op: m.op,
      step: m.step,
      scenario: m.scenario,
      attempt: m.step.attempts,
      finish: (output, mutate) => commits.add(m, output, mutate, isLast),
    };
  }

  private async runOne(m: Member, commits: CommitGroup): Promise<void> {
    const base = this.context(m, commits);
    let finished = false;
    const ctx: StepContext = {
      ...base,
      finish: async (output, mutate) => {
        await base.finish(output, mutate);
        finished = true;
      },
    };
    const output = await this.handlers.run(m.step.name, ctx);
    if (!finished) await ctx.finish(output ?? {});
  }

  /** The batch's operations whose first unfinished step is `position`; the others go on alone. */
  private async load(batchId: string, position: number): Promise<Member[]> {
    const ops = await this.dataSource
      .getRepository(OperationEntity)
      .find({ where: { batchId, state: In(['pending', 'running']) } });
    if (ops.length === 0) return [];
    const ids = ops.map((o) => o.id);
    const steps = await this.dataSource
      .getRepository(OperationStepEntity)
      .find({ where: { operationId: In(ids) } });
    const byOp = new Map<string, OperationStepEntity[]>();
    for (const st of steps) pushTo(byOp, st.operationId, st);
    const scenarios = new Map(
      (
        await this.dataSource.getRepository(ScenarioEntity).find({
          where: { id: In([...new Set(ops.map((o) => o.scenarioId!))]) },
          relations: { replicas: true },
        })
      ).map((s) => [s.id, s]),
    );
    const members: Member[] = [];
    const strays: Member[] = [];
    const elsewhere = new Set<number>();
    for (const op of ops) {
      const list = (byOp.get(op.id) ?? []).sort((a, b) => a.position - b.position);
      const step = list.find(unfinished);
      const scenario = scenarios.get(op.scenarioId!);
      if (!step) continue;
      const m = { op, steps: list, step, scenario: scenario! };
      // Without its scenario (or an AR test): the single-operation path decides.
      if (!scenario || op.type === 'ar-test') strays.push(m);
      else if (step.position === position) members.push(m);
      // Ahead or behind this job (a re-run, or the reconciler raced the batch): their own
      // position's job serves them; make sure it is queued.
      else elsewhere.add(step.position);
    }
    for (const p of elsewhere) await this.queue.enqueueBatchStep(batchId, p);
    if (strays.length > 0) {
      await this.leave(strays, null);
      await Promise.all(strays.map((m) => this.queue.enqueueStep(m.op.id, m.step.position)));
    }
    return members;
  }

  /** These operations go on alone (their own step jobs); `errors` records why on their steps. */
  private async leave(members: Member[], errors: string[] | null): Promise<void> {
    await this.dataSource.transaction(async (m) => {
      await m.query(`UPDATE operations SET "batchId" = NULL WHERE id = ANY($1)`, [
        members.map((x) => x.op.id),
      ]);
      if (errors) {
        await m.query(
          `UPDATE operation_steps AS s SET error = v.error
             FROM (SELECT unnest($1::uuid[]) AS id, unnest($2::text[]) AS error) v WHERE s.id = v.id`,
          [members.map((x) => x.step.id), errors],
        );
      }
    });
    for (const x of members) x.op.batchId = null;
  }

  /** Every operation of the batch goes on alone (the batch job's own plumbing keeps failing). */
  private async dissolve(batchId: string): Promise<void> {
    const rows: { id: string }[] = await this.dataSource.query(
      `UPDATE operations SET "batchId" = NULL WHERE "batchId" = $1 AND state IN ('pending','running') RETURNING id`,
      [batchId],
    );
    log.warn({ batchId, operations: rows.length }, 'batch dissolved: its operations go on alone');
    // The reconciler queues each one's first unfinished step.
  }
}

/** These steps are done, with their outputs (one statement). */
async function markDone(
  m: EntityManager,
  stepIds: string[],
  outputs: Record<string, unknown>[],
): Promise<void> {
  await m.query(
    `UPDATE operation_steps AS s SET state = 'done', output = v.output::jsonb, "finishedAt" = now(), error = NULL
       FROM (SELECT unnest($1::uuid[]) AS id, unnest($2::text[]) AS output) v WHERE s.id = v.id`,
    [stepIds, outputs.map((o) => JSON.stringify(o))],
  );
}

/**
 * Groups the "step done" commits of concurrently running handlers: every commit asked for while
 * the previous group is being written goes into the next group (up to COMMIT_GROUP per
 * transaction). If a group's transaction fails, its commits are retried one by one, so one bad
 * commit (a stale epoch) fails only its own handler.
 */
class CommitGroup {
  private pending: Commit[] = [];
  private flushing = false;

  constructor(
    private readonly dataSource: DataSource,
    private readonly host: BatchHost,
  ) {}

  add(
    member: Member,
    output: Record<string, unknown>,
    mutate: ((m: EntityManager) => Promise<void>) | undefined,
    isLast: boolean,
  ): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      this.pending.push({ member, output, mutate, isLast, resolve, reject });
      if (!this.flushing) {
        this.flushing = true;
        setImmediate(() => void this.flush());
      }
    });
  }

  private async flush(): Promise<void> {
    try {
      while (this.pending.length > 0) {
        const group = this.pending.splice(0, COMMIT_GROUP);
        try {
          await this.write(group);
          group.forEach((c) => c.resolve());
        } catch {
          for (const c of group) {
            await this.write([c]).then(c.resolve, c.reject);
          }
        }
      }
    } finally {
      this.flushing = false;
    }
  }

  private async write(group: Commit[]): Promise<void> {
    await this.dataSource.transaction(async (m) => {
      for (const c of group) if (c.mutate) await c.mutate(m);
      await markDone(
        m,
        group.map((c) => c.member.step.id),
        group.map((c) => c.output),
      );
      for (const c of group) if (c.isLast) await this.host.succeed(m, c.member.op);
    });
  }
}
