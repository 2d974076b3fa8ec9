/**
 * Outgoing webhooks for NOC tooling: every operation outcome, alert and automatic failover request
 * is POSTed as JSON to each WEBHOOK_URLS entry through the `notifications` BullMQ queue (retries
 * with backoff, survives restarts). Bodies are signed with WEBHOOK_SECRET (HMAC-SHA256) so a
 * receiver can check they come from us. One job per (event, URL); the job id makes a re-queued
 * event a no-op, so a retried `notify` step never sends twice.
 */
import { createHmac } from 'node:crypto';
import { Injectable, OnApplicationBootstrap, OnApplicationShutdown } from '@nestjs/common';
import { Job, Queue, Worker } from 'bullmq';
import { createLogger } from '../common/logger';
import { AppConfig } from '../config/app-config';
import { RedisService } from '../redis/redis.service';

const log = createLogger('Notifications');
export const NOTIFICATIONS_QUEUE = 'notifications';

export interface NotificationEvent {
  /** operation-succeeded, operation-failed, alert, failover-requested, storm-brake */
  kind: string;
  severity: 'info' | 'warning' | 'critical';
  message: string;
  scenarioId?: string | null;
  nodeId?: string | null;
  operationId?: string | null;
  details?: Record<string, unknown>;
}

interface DeliveryJob {
  url: string;
  body: NotificationEvent & { id: string; at: string };
}

export function signature(secret: string, body: string): string {
  return `sha256=${createHmac('sha256', secret).update(body).digest('hex')}`;
}

@Injectable()
export class NotificationsService implements OnApplicationBootstrap, OnApplicationShutdown {
  readonly queue: Queue<DeliveryJob>;
  private worker: Worker<DeliveryJob> | null = null;
  private readonly urls: string[];

  constructor(
    private readonly config: AppConfig,
    private readonly redis: RedisService,
  ) {
    this.urls = config.WEBHOOK_URLS ? config.WEBHOOK_URLS.split(',') : [];
    this.queue = new Queue<DeliveryJob>(NOTIFICATIONS_QUEUE, {
      connection: redis.bullConnectionOptions(),
      prefix: `${config.REDIS_PREFIX}:bull`,
      defaultJobOptions: {
        attempts: 12,
        backoff: { type: 'exponential', delay: 500 },
        removeOnComplete: { age: 86400, count: 10000 },
        removeOnFail: { count: 1000 },
      },
    });
    this.queue.on('error', (err) => log.debug({ err: err.message }, 'queue connection error'));
  }

  onApplicationBootstrap(): void {
    if (!this.config.roles.has('worker') || this.urls.length === 0) return;
    this.worker = new Worker<DeliveryJob>(NOTIFICATIONS_QUEUE, (job) => this.deliver(job), {
      connection: this.redis.bullConnectionOptions(),
      prefix: `${this.config.REDIS_PREFIX}:bull`,
      concurrency: 8,
    });
    this.worker.on('error', (err) => log.debug({ err: err.message }, 'worker connection error'));
    this.worker.on('failed', (job, err) =>
      log.warn(
        { url: job?.data.url, attempt: job?.attemptsMade, err: err.message },
        'webhook delivery failed',
      ),
    );
  }

  async onApplicationShutdown(): Promise<void> {
    await this.worker?.close().catch(() => undefined);
    await this.queue.close().catch(() => undefined);
  }

  /** Queue the event for every webhook. `key` identifies the event (same key → sent once). */
  async publish(key: string, event: NotificationEvent): Promise<void> {
    if (this.urls.length === 0) return;
    const body = { ...event, id: key, at: new Date().toISOString() };
    await this.queue.addBulk(
      this.urls.map((url, i) => ({ name: event.kind, data: { url, body }, opts: { jobId: `${key}.${i}` } })),
    );
  }

  private async deliver(job: Job<DeliveryJob>): Promise<void> {
    const text = JSON.stringify(job.data.body);
    const headers: Record<string, string> = {
      'content-type': 'application/json',
      'user-agent': 'ha-orchestrator',
      'x-ha-event': job.data.body.kind,
      'x-ha-delivery': String(job.id),
    };
    if (this.config.WEBHOOK_SECRET) headers['x-ha-signature'] = signature(this.config.WEBHOOK_SECRET, text);
    const res = await fetch(job.data.url, {
      method: 'POST',
      headers,
      body: text,
      signal: AbortSignal.timeout(5000),
    });
    await res.body?.cancel().catch(() => undefined);
    if (!res.ok) throw new Error(`webhook answered ${res.status}`);
  }
}
