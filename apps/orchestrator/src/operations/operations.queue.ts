/**
 * BullMQ plumbing for operations: a step-chaining design, one job per step (jobId
 * `<operationId>.<position>`, so a duplicate add is a no-op). A finished step queues the next one.
 * Why chaining and not a FlowProducer tree: steps are strictly sequential and their state lives in
 * PostgreSQL; a flow would duplicate that state in Redis and make "resume from the first step not
 * done" harder. The reconciler re-queues the first unfinished step of every active operation, so
 * a crash between "step done" (PostgreSQL) and "next step queued" (Redis) only delays the operation.
 */
import { Injectable, OnApplicationShutdown } from '@nestjs/common';
import { Job, Queue, Worker } from 'bullmq';
import { AppConfig } from '../config/app-config';
import { createLogger } from '../common/logger';
import { RedisService } from '../redis/redis.service';

const log = createLogger('OperationsQueue');
export const OPERATIONS_QUEUE = 'operations';

/** One operation's step, or (batchId) that step of every operation of a batch still at it. */
export type StepJobData = { operationId: string; position: number } | { batchId: string; position: number };

export const batchJobId = (batchId: string, position: number) => `batch.${batchId}.${position}`;

export const STEP_ATTEMPTS = 8;

/**
 * Batch jobs: earlier steps first (BullMQ: lower is sooner), so when several batches run at once
 * every one gets through fence, promote and DNS before any spends the workers on its trailing
 * steps (verify, post-checks, notify, audit). Single operations' jobs keep BullMQ's plain FIFO path
 * (a prioritized job costs a few ms more to fetch, on the latency of every single failover).
 */
export function stepPriority(position: number): number {
  return 1 + position;
}

@Injectable()
export class OperationsQueue implements OnApplicationShutdown {
  readonly queue: Queue<StepJobData>;
  private worker: Worker<StepJobData> | null = null;

  constructor(
    private readonly config: AppConfig,
    redis: RedisService,
  ) {
    this.queue = new Queue<StepJobData>(OPERATIONS_QUEUE, {
      connection: redis.bullConnectionOptions(),
      prefix: `${config.REDIS_PREFIX}:bull`,
      defaultJobOptions: {
        attempts: STEP_ATTEMPTS,
        backoff: { type: 'exponential', delay: 250 },
        removeOnComplete: true,
        removeOnFail: { count: 1000 },
      },
    });
    this.queue.on('error', (err) => log.debug({ err: err.message }, 'queue connection error'));
  }

  async enqueueStep(operationId: string, position: number, delayMs = 0): Promise<void> {
    await this.queue.add(
      'step',
      { operationId, position },
      { jobId: `${operationId}.${position}`, ...(delayMs > 0 && { delay: delayMs }) },
    );
  }

  /** The step at `position` of every operation of the batch (jobId dedupes, like enqueueStep). */
  async enqueueBatchStep(batchId: string, position: number): Promise<void> {
    await this.queue.add(
      'batch-step',
      { batchId, position },
      { jobId: batchJobId(batchId, position), priority: stepPriority(position) },
    );
  }

  /** The first step of many operations in one round trip (bulk requests). */
  async enqueueFirstSteps(operationIds: string[]): Promise<void> {
    for (let from = 0; from < operationIds.length; from += 500) {
      await this.queue.addBulk(
        operationIds.slice(from, from + 500).map((operationId) => ({
          name: 'step',
          data: { operationId, position: 0 },
          opts: { jobId: `${operationId}.0` },
        })),
      );
    }
  }

  startWorker(processor: (job: Job<StepJobData>) => Promise<unknown>, redis: RedisService): void {
    if (this.worker) return;
    const lock = this.config.WORKER_LOCK_MS;
    this.worker = new Worker<StepJobData>(OPERATIONS_QUEUE, processor, {
      connection: redis.bullConnectionOptions(),
      prefix: `${this.config.REDIS_PREFIX}:bull`,
      concurrency: this.config.WORKER_CONCURRENCY,
      // A crashed worker's job is taken over after ~lockDuration instead of BullMQ's 30 s default.
      lockDuration: lock,
      stalledInterval: Math.max(500, Math.floor(lock / 2)),
      maxStalledCount: 5,
      autorun: true,
    });
    this.worker.on('error', (err) => log.debug({ err: err.message }, 'worker connection error'));
    this.worker.on('stalled', (jobId) => log.warn({ jobId }, 'step job stalled (worker lost); re-queued'));
    log.info({ lockMs: lock, concurrency: this.config.WORKER_CONCURRENCY }, 'operations worker started');
  }

  async onApplicationShutdown(): Promise<void> {
    // Let running steps finish (they are short and idempotent); unfinished ones are re-queued by BullMQ.
    await this.worker?.close().catch(() => undefined);
    await this.queue.close().catch(() => undefined);
  }
}
