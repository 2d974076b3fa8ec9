/**
 * Webhook subscriptions through the API (admin): create, change, delete, a test ping, the delivery
 * log and redelivery. Every change is audited; secrets are write-only (a view says only whether
 * one is set) and never logged.
 */
import { Injectable } from '@nestjs/common';
import { randomUUID } from 'node:crypto';
import { DataSource } from 'typeorm';
import { AuditService } from '../audit/audit.service';
import { Page } from '../common/dtos/pagination.dto';
import { ConflictError, InvalidInputError, NotFoundError } from '../common/errors';
import {
  CreateWebhookDto,
  DeliveryView,
  ListDeliveriesQuery,
  UpdateWebhookDto,
  WebhookView,
} from './dtos/webhook.dto';
import { NotificationsService, WebhookBody } from './notifications.service';
import { WebhookDeliveryEntity, WebhookSubscriptionEntity } from './webhook.entity';

export function webhookView(s: WebhookSubscriptionEntity): WebhookView {
  return {
    id: s.id,
    name: s.name,
    url: s.url,
    kinds: s.kinds,
    scenarioId: s.scenarioId,
    groupId: s.groupId,
    secretSet: !!s.secret,
    enabled: s.enabled,
    maxAttempts: s.maxAttempts,
    timeoutMs: s.timeoutMs,
    source: s.source,
    createdBy: s.createdBy,
    createdAt: s.createdAt,
    updatedAt: s.updatedAt,
  };
}

function deliveryView(d: WebhookDeliveryEntity, withBody = false): DeliveryView {
  const { body, jobId: _jobId, subscription: _s, ...rest } = d;
  return withBody ? { ...rest, body } : rest;
}

@Injectable()
export class WebhooksService {
  constructor(
    private readonly dataSource: DataSource,
    private readonly audit: AuditService,
    private readonly notifications: NotificationsService,
  ) {}

  private get subs() {
    return this.dataSource.getRepository(WebhookSubscriptionEntity);
  }

  private get deliveries() {
    return this.dataSource.getRepository(WebhookDeliveryEntity);
  }

  async create(dto: CreateWebhookDto, actor: string): Promise<WebhookView> {
    if (/^env-\d+$/.test(dto.name))
      throw new InvalidInputError('names env-N are kept for WEBHOOK_URLS', 'name');
    await this.checkScope(dto);
    if (await this.subs.findOneBy({ name: dto.name }))
      throw new ConflictError(`a webhook named ${dto.name} exists`, { name: dto.name });
    const s = await this.dataSource.transaction(async (m) => {
      const row = await m.getRepository(WebhookSubscriptionEntity).save(
        m.getRepository(WebhookSubscriptionEntity).create({
          name: dto.name,
          url: dto.url,
          kinds: dto.kinds ?? [],
          scenarioId: dto.scenarioId ?? null,
          groupId: dto.groupId ?? null,
          secret: dto.secret ?? null,
          enabled: dto.enabled ?? true,
          maxAttempts: dto.maxAttempts ?? 12,
          timeoutMs: dto.timeoutMs ?? 5000,
          source: 'api',
          createdBy: actor,
        }),
      );
      await this.audit.record(
        {
          actor,
          action: 'webhook.create',
          targetType: 'webhook',
          targetId: row.id,
          details: { name: row.name, url: row.url, kinds: row.kinds, signed: !!row.secret },
        },
        m,
      );
      return row;
    });
    await this.notifications.reload();
    return webhookView(s);
  }

  async list(q: { limit: number; offset: number }): Promise<Page<WebhookView>> {
    const [rows, total] = await this.subs.findAndCount({
      order: { name: 'ASC' },
      take: q.limit,
      skip: q.offset,
    });
    return { items: rows.map(webhookView), total, limit: q.limit, offset: q.offset };
  }

  async getEntity(id: string): Promise<WebhookSubscriptionEntity> {
    const s = await this.subs.findOneBy({ id });
    if (!s) throw new NotFoundError('webhook', id);
    return s;
  }

  async get(id: string): Promise<WebhookView> {
    return webhookView(await this.getEntity(id));
  }

  async update(id: string, dto: UpdateWebhookDto, actor: string): Promise<WebhookView> {
    const s = await this.getEntity(id);
    if (dto.name !== undefined && dto.name !== s.name) {
      if (s.source === 'env')
        throw new InvalidInputError('a WEBHOOK_URLS subscription keeps its name', 'name');
      if (/^env-\d+$/.test(dto.name))
        throw new InvalidInputError('names env-N are kept for WEBHOOK_URLS', 'name');
      if (await this.subs.findOneBy({ name: dto.name }))
        throw new ConflictError(`a webhook named ${dto.name} exists`, { name: dto.name });
    }
    await this.checkScope({ scenarioId: dto.scenarioId ?? s.scenarioId, groupId: dto.groupId ?? s.groupId });
    const changed = Object.keys(dto).filter((k) => (dto as Record<string, unknown>)[k] !== undefined);
    const saved = await this.dataSource.transaction(async (m) => {
      Object.assign(s, Object.fromEntries(changed.map((k) => [k, (dto as Record<string, unknown>)[k]])));
      const row = await m.getRepository(WebhookSubscriptionEntity).save(s);
      await this.audit.record(
        { actor, action: 'webhook.update', targetType: 'webhook', targetId: id, details: { changed } },
        m,
      );
      return row;
    });
    await this.notifications.reload();
    return webhookView(saved);
  }

  async remove(id: string, actor: string): Promise<void> {
    const s = await this.getEntity(id);
    await this.dataSource.transaction(async (m) => {
      await m.getRepository(WebhookSubscriptionEntity).delete({ id });
      await this.audit.record(
        {
          actor,
          action: 'webhook.delete',
          targetType: 'webhook',
          targetId: id,
          details: { name: s.name, url: s.url },
        },
        m,
      );
    });
    await this.notifications.reload();
  }

  async listDeliveries(id: string, q: ListDeliveriesQuery): Promise<Page<DeliveryView>> {
    await this.getEntity(id);
    const [rows, total] = await this.deliveries.findAndCount({
      where: { subscriptionId: id, ...(q.state && { state: q.state }) },
      order: { createdAt: 'DESC', id: 'DESC' },
      take: q.limit,
      skip: q.offset,
    });
    return { items: rows.map((d) => deliveryView(d)), total, limit: q.limit, offset: q.offset };
  }

  async getDelivery(id: string, deliveryId: string): Promise<DeliveryView> {
    const d = await this.deliveries.findOneBy({ id: deliveryId, subscriptionId: id });
    if (!d) throw new NotFoundError('delivery', deliveryId);
    return deliveryView(d, true);
  }

  /** Sends the same event (same body and X-HA-Event-Id) again, as a new delivery. */
  async redeliver(id: string, deliveryId: string, actor: string, reason?: string): Promise<DeliveryView> {
    const s = await this.getEntity(id);
    const d = await this.deliveries.findOneBy({ id: deliveryId, subscriptionId: id });
    if (!d) throw new NotFoundError('delivery', deliveryId);
    if (d.state === 'pending' || d.state === 'retrying')
      throw new ConflictError(`delivery ${deliveryId} is still being sent (${d.state})`, { state: d.state });
    if (!s.enabled) throw new ConflictError(`webhook ${s.name} is disabled`, { enabled: false });
    return this.send(s, d.body as unknown as WebhookBody, actor, 'webhook.redeliver', reason, d.id);
  }

  /** A `ping` event to this subscription alone (whatever its kinds), to check the receiver. */
  async ping(id: string, actor: string): Promise<DeliveryView> {
    const s = await this.getEntity(id);
    if (!s.enabled) throw new ConflictError(`webhook ${s.name} is disabled`, { enabled: false });
    const body: WebhookBody = {
      id: `ping.${randomUUID()}`,
      at: new Date().toISOString(),
      kind: 'ping',
      severity: 'info',
      message: `test delivery to ${s.name}, asked by ${actor}`,
    };
    return this.send(s, body, actor, 'webhook.ping');
  }

  private async send(
    s: WebhookSubscriptionEntity,
    body: WebhookBody,
    actor: string,
    action: string,
    reason?: string,
    redeliveryOf?: string,
  ): Promise<DeliveryView> {
    const jobId = `${redeliveryOf ? `redeliver.${redeliveryOf}` : 'ping'}.${randomUUID()}`;
    const row = await this.dataSource.transaction(async (m) => {
      const r = await m.getRepository(WebhookDeliveryEntity).save(
        m.getRepository(WebhookDeliveryEntity).create({
          jobId,
          subscriptionId: s.id,
          eventId: body.id,
          kind: body.kind,
          state: 'pending',
          attempts: 0,
          responseStatus: null,
          error: null,
          latencyMs: null,
          redeliveryOf: redeliveryOf ?? null,
          body: body as never,
          deliveredAt: null,
        }),
      );
      await this.audit.record(
        {
          actor,
          action,
          targetType: 'webhook',
          targetId: s.id,
          reason: reason ?? null,
          details: { deliveryId: r.id, eventId: body.id, ...(redeliveryOf && { redeliveryOf }) },
        },
        m,
      );
      return r;
    });
    await this.notifications.enqueue(s.id, jobId, body, s.maxAttempts, redeliveryOf);
    return deliveryView(row);
  }

  private async checkScope(dto: { scenarioId?: string | null; groupId?: string | null }): Promise<void> {
    if (dto.scenarioId && dto.groupId)
      throw new InvalidInputError('give scenarioId or groupId, not both', 'groupId');
    if (dto.scenarioId) {
      const r: unknown[] = await this.dataSource.query(`SELECT 1 FROM scenarios WHERE id = $1`, [
        dto.scenarioId,
      ]);
      if (r.length === 0) throw new InvalidInputError(`no scenario ${dto.scenarioId}`, 'scenarioId');
    }
    if (dto.groupId) {
      const r: unknown[] = await this.dataSource.query(`SELECT 1 FROM groups WHERE id = $1`, [dto.groupId]);
      if (r.length === 0) throw new InvalidInputError(`no group ${dto.groupId}`, 'groupId');
    }
  }
}
