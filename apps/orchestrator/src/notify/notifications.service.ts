/**
 * Outgoing webhooks for NOC tooling. Subscriptions (table webhook_subscriptions, managed through
 * /api/v1/webhooks; WEBHOOK_URLS becomes `env-N` subscriptions at start) say which event kinds,
 * scenario or group they want. `publish` only queues: one BullMQ job per (event, subscription) on
 * the `notifications` queue, its own worker, so a slow or dead receiver never slows detection or an
 * operation. Deliveries retry with exponential backoff up to the subscription's maxAttempts, then
 * are `dead` (the dead letters); every attempt is written to the delivery log (webhook_deliveries)
 * with its status, response code and latency, and any delivery can be sent again.
 *
 * Each request is signed: `X-HA-Timestamp` (unix seconds at sending) and
 * `X-HA-Signature: sha256=HMAC-SHA256(secret, "<timestamp>.<body>")`, so a receiver can check the
 * sender and reject replays (docs/webhooks.md). `X-HA-Event-Id` is the same for every attempt and
 * redelivery of one event: receivers dedupe on it. The job id makes a re-queued event a no-op, so a
 * retried `notify` step never sends twice.
 */
import { createHmac } from 'node:crypto';
import { Injectable, OnApplicationBootstrap, OnApplicationShutdown, Optional } from '@nestjs/common';
import { Job, Queue, Worker } from 'bullmq';
import { DataSource } from 'typeorm';
import { createLogger } from '../common/logger';
import { AppConfig } from '../config/app-config';
import { RedisService } from '../redis/redis.service';
import { DeliveryState, WebhookSubscriptionEntity } from './webhook.entity';

const log = createLogger('Notifications');
export const NOTIFICATIONS_QUEUE = 'notifications';
/** Subscriptions and group members are re-read this often (other instances' changes). */
const RELOAD_MS = 5_000;
const RETENTION_MS = 14 * 86_400_000;

export interface NotificationEvent {
  /** an event kind (EVENT_KINDS), operation-started, step-finished or ping */
  kind: string;
  severity: 'info' | 'warning' | 'critical';
  message: string;
  scenarioId?: string | null;
  nodeId?: string | null;
  operationId?: string | null;
  details?: Record<string, unknown>;
}

export type WebhookBody = NotificationEvent & { id: string; at: string };

export interface DeliveryJob {
  subscriptionId: string;
  body: WebhookBody;
  /** set for a redelivery: the delivery it resends */
  redeliveryOf?: string;
}

/** `sha256=<hex>` over `<timestamp>.<body>`: what X-HA-Signature carries. */
export function signature(secret: string, timestamp: string, body: string): string {
  return `sha256=${createHmac('sha256', secret).update(`${timestamp}.${body}`).digest('hex')}`;
}

interface Subscription {
  id: string;
  kinds: Set<string>;
  scenarioId: string | null;
  groupId: string | null;
  enabled: boolean;
  maxAttempts: number;
}

@Injectable()
export class NotificationsService implements OnApplicationBootstrap, OnApplicationShutdown {
  readonly queue: Queue<DeliveryJob>;
  private worker: Worker<DeliveryJob> | null = null;
  private subscriptions: Subscription[] = [];
  private members = new Map<string, Set<string>>();
  private loaded = false;
  private reloading: Promise<void> | null = null;
  private timers: NodeJS.Timeout[] = [];

  constructor(
    private readonly config: AppConfig,
    private readonly redis: RedisService,
    @Optional() private readonly dataSource?: DataSource,
  ) {
    this.queue = new Queue<DeliveryJob>(NOTIFICATIONS_QUEUE, {
      connection: redis.bullConnectionOptions(),
      prefix: `${config.REDIS_PREFIX}:bull`,
      defaultJobOptions: {
        attempts: 12,
        backoff: { type: 'exponential', delay: 1000 },
        removeOnComplete: { age: 86400, count: 10000 },
        removeOnFail: { count: 1000 },
      },
    });
    this.queue.on('error', (err) => log.debug({ err: err.message }, 'queue connection error'));
  }

  async onApplicationBootstrap(): Promise<void> {
    await this.syncEnvSubscriptions().catch((err: Error) =>
      log.error({ err: err.message }, 'WEBHOOK_URLS subscriptions not written'),
    );
    await this.reload().catch((err: Error) => log.warn({ err: err.message }, 'subscriptions not loaded'));
    const every = setInterval(() => void this.reload().catch(() => undefined), RELOAD_MS);
    every.unref();
    this.timers.push(every);
    if (!this.config.roles.has('worker')) return;
    this.worker = new Worker<DeliveryJob>(NOTIFICATIONS_QUEUE, (job) => this.deliver(job), {
      connection: this.redis.bullConnectionOptions(),
      prefix: `${this.config.REDIS_PREFIX}:bull`,
      concurrency: 16,
    });
    this.worker.on('error', (err) => log.debug({ err: err.message }, 'worker connection error'));
    this.worker.on('failed', (job, err) =>
      log.warn(
        { subscription: job?.data.subscriptionId, attempt: job?.attemptsMade, err: err.message },
        'webhook delivery failed',
      ),
    );
    const prune = setInterval(() => void this.prune(), 3_600_000);
    prune.unref();
    this.timers.push(prune);
  }

  async onApplicationShutdown(): Promise<void> {
    for (const t of this.timers) clearInterval(t);
    await this.worker?.close().catch(() => undefined);
    await this.queue.close().catch(() => undefined);
  }

  /** Re-reads the subscriptions now (after a change through the API). */
  reload(): Promise<void> {
    if (!this.dataSource) return Promise.resolve();
    this.reloading ??= this.load().finally(() => (this.reloading = null));
    return this.reloading;
  }

  /** Whether any enabled subscription would take an event of this kind (cheap: in memory). */
  wants(kind: string, scenarioId?: string | null): boolean {
    return this.subscriptions.some((s) => this.matches(s, kind, scenarioId ?? null));
  }

  /** Queue the event for every subscription that wants it. `key` identifies the event (same key → sent once). */
  async publish(key: string, event: NotificationEvent): Promise<void> {
    if (!this.loaded) await this.reload().catch(() => undefined);
    const subs = this.subscriptions.filter((s) =>
      this.matches(s, event.kind, event.scenarioId ?? null, event.details?.groupId),
    );
    if (subs.length === 0) return;
    const body: WebhookBody = { ...event, id: key, at: new Date().toISOString() };
    await this.queue.addBulk(
      subs.map((s) => ({
        name: event.kind,
        data: { subscriptionId: s.id, body },
        opts: { jobId: jobIdFor(key, s.id), attempts: s.maxAttempts },
      })),
    );
  }

  /** Queue one body for one subscription under a new job (redelivery, test ping). */
  async enqueue(
    subscriptionId: string,
    jobId: string,
    body: WebhookBody,
    maxAttempts: number,
    redeliveryOf?: string,
  ) {
    await this.queue.add(
      body.kind,
      { subscriptionId, body, ...(redeliveryOf && { redeliveryOf }) },
      { jobId, attempts: maxAttempts },
    );
  }

  /** `groupId`: the group a group-level event (no scenario, e.g. group-split) is about. */
  private matches(s: Subscription, kind: string, scenarioId: string | null, groupId?: unknown): boolean {
    if (!s.enabled) return false;
    if (s.kinds.size > 0 && !s.kinds.has(kind)) return false;
    if (s.scenarioId && s.scenarioId !== scenarioId) return false;
    if (
      s.groupId &&
      !(scenarioId && this.members.get(s.groupId)?.has(scenarioId)) &&
      !(scenarioId === null && groupId === s.groupId)
    )
      return false;
    return true;
  }

  private async load(): Promise<void> {
    const ds = this.dataSource!;
    const rows = await ds.getRepository(WebhookSubscriptionEntity).find();
    const groupIds = [...new Set(rows.map((r) => r.groupId).filter((g): g is string => !!g))];
    const members = new Map<string, Set<string>>();
    if (groupIds.length) {
      const m: { groupId: string; scenarioId: string }[] = await ds.query(
        `SELECT "groupId", "scenarioId" FROM group_members WHERE "groupId" = ANY($1)`,
        [groupIds],
      );
      for (const r of m) {
        if (!members.has(r.groupId)) members.set(r.groupId, new Set());
        members.get(r.groupId)!.add(r.scenarioId);
      }
    }
    this.subscriptions = rows.map((r) => ({
      id: r.id,
      kinds: new Set(r.kinds),
      scenarioId: r.scenarioId,
      groupId: r.groupId,
      enabled: r.enabled,
      maxAttempts: r.maxAttempts,
    }));
    this.members = members;
    this.loaded = true;
  }

  /** WEBHOOK_URLS (and WEBHOOK_SECRET) as subscriptions env-1, env-2 …, kept in step at every start. */
  private async syncEnvSubscriptions(): Promise<void> {
    if (!this.dataSource) return;
    const urls = this.config.WEBHOOK_URLS
      ? this.config.WEBHOOK_URLS.split(',')
          .map((u) => u.trim())
          .filter(Boolean)
      : [];
    const names = urls.map((_, i) => `env-${i + 1}`);
    await this.dataSource.transaction(async (m) => {
      for (let i = 0; i < urls.length; i++) {
        await m.query(
          `INSERT INTO webhook_subscriptions (name, url, secret, source, "createdBy")
           VALUES ($1, $2, $3, 'env', 'env:WEBHOOK_URLS')
           ON CONFLICT (name) DO UPDATE SET url = EXCLUDED.url, secret = EXCLUDED.secret, "updatedAt" = now()
           WHERE webhook_subscriptions.source = 'env'`,
          [names[i], urls[i], this.config.WEBHOOK_SECRET ?? null],
        );
      }
      await m.query(`DELETE FROM webhook_subscriptions WHERE source = 'env' AND NOT (name = ANY($1))`, [
        names,
      ]);
    });
  }

  private async deliver(job: Job<DeliveryJob>): Promise<void> {
    const { subscriptionId, body } = job.data;
    const sub = await this.dataSource
      ?.getRepository(WebhookSubscriptionEntity)
      .findOneBy({ id: subscriptionId })
      .catch(() => undefined);
    if (sub === null) return; // deleted since: nothing to deliver to, nothing to log
    if (!sub) throw new Error('subscription not readable (PostgreSQL unreachable?)');
    const attempt = job.attemptsMade + 1;
    if (!sub.enabled) {
      await this.logAttempt(job, { state: 'skipped', attempts: attempt - 1, error: 'subscription disabled' });
      return;
    }
    const text = JSON.stringify(body);
    const timestamp = String(Math.floor(Date.now() / 1000));
    const headers: Record<string, string> = {
      'content-type': 'application/json',
      'user-agent': 'ha-orchestrator',
      'x-ha-event': body.kind,
      'x-ha-event-id': body.id,
      'x-ha-delivery': String(job.id),
      'x-ha-timestamp': timestamp,
    };
    if (sub.secret) headers['x-ha-signature'] = signature(sub.secret, timestamp, text);
    const started = performance.now();
    let status: number | null = null;
    let error: string | null = null;
    try {
      const res = await fetch(sub.url, {
        method: 'POST',
        headers,
        body: text,
        redirect: 'manual',
        signal: AbortSignal.timeout(sub.timeoutMs),
      });
      status = res.status;
      await res.body?.cancel().catch(() => undefined);
      if (!res.ok) error = `receiver answered ${res.status}`;
    } catch (err) {
      const e = err as Error & { cause?: { code?: string } };
      error =
        e.name === 'TimeoutError'
          ? `no answer within ${sub.timeoutMs} ms`
          : `${e.message}${e.cause?.code ? ` (${e.cause.code})` : ''}`;
    }
    const latencyMs = Math.round(performance.now() - started);
    const final = attempt >= (job.opts.attempts ?? 1);
    const state: DeliveryState = error === null ? 'succeeded' : final ? 'dead' : 'retrying';
    await this.logAttempt(job, { state, attempts: attempt, status, error, latencyMs });
    if (error !== null) {
      if (final) log.error({ subscription: sub.name, event: body.id, err: error }, 'webhook delivery dead');
      throw new Error(error);
    }
  }

  /** The delivery log row of this job, written after each attempt (best effort: never fails the delivery). */
  private async logAttempt(
    job: Job<DeliveryJob>,
    a: {
      state: DeliveryState;
      attempts: number;
      status?: number | null;
      error?: string | null;
      latencyMs?: number;
    },
  ): Promise<void> {
    const { subscriptionId, body, redeliveryOf } = job.data;
    await this.dataSource
      ?.query(
        `INSERT INTO webhook_deliveries ("jobId", "subscriptionId", "eventId", kind, state, attempts,
           "responseStatus", error, "latencyMs", "redeliveryOf", body, "deliveredAt")
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)
         ON CONFLICT ("jobId") DO UPDATE SET state = EXCLUDED.state, attempts = EXCLUDED.attempts,
           "responseStatus" = EXCLUDED."responseStatus", error = EXCLUDED.error,
           "latencyMs" = EXCLUDED."latencyMs", "deliveredAt" = EXCLUDED."deliveredAt", "updatedAt" = now()`,
        [
          String(job.id),
          subscriptionId,
          body.id.slice(0, 300),
          body.kind.slice(0, 64),
          a.state,
          a.attempts,
          a.status ?? null,
          a.error?.slice(0, 1024) ?? null,
          a.latencyMs ?? null,
          redeliveryOf ?? null,
          body,
          a.state === 'succeeded' ? new Date() : null,
        ],
      )
      .catch((err: Error) => log.warn({ err: err.message, job: job.id }, 'delivery log not written'));
  }

  private async prune(): Promise<void> {
    await this.dataSource
      ?.query(`DELETE FROM webhook_deliveries WHERE "createdAt" < $1`, [new Date(Date.now() - RETENTION_MS)])
      .catch((err: Error) => log.warn({ err: err.message }, 'delivery log not pruned'));
  }
}

export function jobIdFor(eventId: string, subscriptionId: string): string {
  // BullMQ job ids may not contain ':' (its key separator).
  return `${eventId}.${subscriptionId}`.replace(/:/g, '_').slice(0, 400);
}
