/**
 * Alerts in: Prometheus Alertmanager's webhook and a generic JSON format, one row per alert
 * (source, fingerprint) in external_alerts, and what detection reads of them.
 *
 * - Receiving: each alert is mapped to a node (and scenario) by its labels when it starts firing
 *   (alert-mapping.ts) and keeps that target while it fires, so an alert about "the orders
 *   scenario" stays about the node that was active when it fired, not the replica that took over.
 *   A change of state (new firing, resolved, expired) is an event (external-alert-*) and a webhook;
 *   a repeat of the same state only renews the alert (lastReceivedAt, receivedCount, expiresAt).
 * - Expiry: a firing alert not sent again within ALERTS_FIRING_TTL_S expires, so a dead
 *   Alertmanager cannot keep a vote standing for ever (its repeat_interval must be shorter).
 * - Detection: every instance keeps the firing, mapped alerts in memory (re-read every second and
 *   after each receipt) and answers two questions: the votes against a node — one per observer
 *   (the token that sent the alerts), however many of its alerts fire — and, for a scenario whose
 *   policy.alerts.failover names alerts, the firing alert that fails it over on its own.
 */
import { Injectable, OnApplicationBootstrap, OnApplicationShutdown, Optional } from '@nestjs/common';
import { DataSource, EntityManager } from 'typeorm';
import { createLogger } from '../common/logger';
import { AppConfig } from '../config/app-config';
import { EventEntity } from '../detection/event.entity';
import { MetricsService } from '../metrics/metrics.service';
import { NotificationsService } from '../notify/notifications.service';
import { TopologyService } from '../topology/topology.service';
import { AlertState, ExternalAlertEntity } from './alert.entity';
import { AlertSource, AlertTarget, IncomingAlert, isVote, mapAlert, MappingTopology } from './alert-mapping';
import {
  AlertPage,
  AlertView,
  ListAlertsQuery,
  ReceiveAlertsResult,
  ReceivedAlertView,
} from './dtos/alert.dto';

const log = createLogger('Alerts');
const REFRESH_MS = 1_000;
const SWEEP_MS = 10_000;
/** firing alerts held in memory at most (mapped ones only) */
const MAX_FIRING = 10_000;

/** A firing alert as detection sees it. */
export interface FiringAlert {
  id: string;
  name: string;
  observer: string;
  nodeId: string;
  scenarioId: string | null;
  startsAt: number;
  /** when this episode reached us (firstReceivedAt) */
  receivedAt: number;
  expiresAt: number;
  /** says the node is down (critical, or ha_vote "true"): a vote in detection */
  vote: boolean;
}

export interface AlertVote {
  observer: string;
  alerts: string[];
}

@Injectable()
export class AlertsService implements OnApplicationBootstrap, OnApplicationShutdown {
  private byNode = new Map<string, FiringAlert[]>();
  private timers: NodeJS.Timeout[] = [];
  private refreshing: Promise<void> | null = null;
  private again: Promise<void> | null = null;

  constructor(
    private readonly config: AppConfig,
    private readonly dataSource: DataSource,
    private readonly topology: TopologyService,
    @Optional() private readonly metrics?: MetricsService,
    @Optional() private readonly notifications?: NotificationsService,
  ) {}

  onApplicationBootstrap(): void {
    void this.refresh();
    this.timers.push(setInterval(() => void this.refresh(), REFRESH_MS).unref());
    const sweepMs = Math.min(SWEEP_MS, Math.max(1000, this.ttlMs / 2));
    this.timers.push(setInterval(() => void this.sweep(), sweepMs).unref());
  }

  onApplicationShutdown(): void {
    for (const t of this.timers) clearInterval(t);
    this.timers = [];
  }

  private get ttlMs(): number {
    return this.config.ALERTS_FIRING_TTL_S * 1000;
  }

  /** Store a batch of alerts from one sender; one transaction, state changes announced after it. */
  async receive(
    source: AlertSource,
    observer: string,
    alerts: IncomingAlert[],
  ): Promise<ReceiveAlertsResult> {
    const topo = this.mappingTopology();
    const announced: { row: ExternalAlertEntity; kind: string }[] = [];
    const out: ReceivedAlertView[] = [];
    // Rows are locked in fingerprint order, so two overlapping batches cannot deadlock; the same
    // fingerprint twice keeps its order (stable sort). Answers keep the request's order.
    const order = alerts
      .map((a, i) => ({ a, i }))
      .sort((x, y) => (x.a.fingerprint < y.a.fingerprint ? -1 : x.a.fingerprint > y.a.fingerprint ? 1 : 0));
    const views: ReceivedAlertView[] = new Array(alerts.length);
    await this.dataSource.transaction(async (m) => {
      for (const { a, i } of order) {
        const r = await this.upsert(m, source, observer, a, topo);
        views[i] = r.view;
        if (r.kind) {
          announced.push({ row: r.row, kind: r.kind });
          await m.getRepository(EventEntity).insert(this.eventOf(r.row, r.kind) as never);
        }
      }
    });
    out.push(...views);
    for (const v of out)
      this.metrics?.alertsReceived.inc({
        source,
        state: v.state,
        mapped: String(v.mapped),
        change: v.change,
      });
    for (const { row, kind } of announced) this.announce(row, kind);
    if (announced.length > 0) await this.refresh();
    return { received: alerts.length, alerts: out };
  }

  private async upsert(
    m: EntityManager,
    source: AlertSource,
    observer: string,
    a: IncomingAlert,
    topo: MappingTopology,
  ): Promise<{ row: ExternalAlertEntity; kind: string | null; view: ReceivedAlertView }> {
    const repo = m.getRepository(ExternalAlertEntity);
    const now = new Date();
    const state: AlertState = a.status;
    const expiresAt = new Date(now.getTime() + this.ttlMs);
    const target = (): AlertTarget => mapAlert(a, topo);
    let row = await repo
      .createQueryBuilder('a')
      .setLock('pessimistic_write')
      .where('a.source = :source AND a.observer = :observer AND a.fingerprint = :fp', {
        source,
        observer,
        fp: a.fingerprint,
      })
      .getOne();
    if (!row) {
      const t = target();
      const inserted = await repo
        .createQueryBuilder()
        .insert()
        .values({
          source,
          observer,
          fingerprint: a.fingerprint,
          name: a.name,
          state,
          severity: a.severity,
          summary: a.summary?.slice(0, 1024) ?? null,
          nodeId: t.nodeId,
          scenarioId: t.scenarioId,
          mapping: t.mapping.slice(0, 512),
          labels: a.labels,
          annotations: a.annotations,
          startsAt: a.startsAt ?? now,
          endsAt: state === 'resolved' ? (a.endsAt ?? now) : null,
          expiresAt,
          firstReceivedAt: now,
          lastReceivedAt: now,
        })
        .orIgnore()
        .returning('*')
        .execute();
      if (inserted.raw.length > 0) {
        row = repo.create(inserted.raw[0] as ExternalAlertEntity);
        // The resolution of an alert never seen firing is recorded, not announced.
        return { row, kind: state === 'firing' ? 'external-alert-firing' : null, view: viewOf(row, 'new') };
      }
      // Inserted by a concurrent request meanwhile: take it from there.
      row = await repo
        .createQueryBuilder('a')
        .setLock('pessimistic_write')
        .where('a.source = :source AND a.observer = :observer AND a.fingerprint = :fp', {
          source,
          observer,
          fp: a.fingerprint,
        })
        .getOneOrFail();
    }
    const patch: Partial<ExternalAlertEntity> = {
      name: a.name,
      severity: a.severity,
      summary: a.summary?.slice(0, 1024) ?? null,
      labels: a.labels,
      annotations: a.annotations,
      lastReceivedAt: now,
      receivedCount: row.receivedCount + 1,
    };
    let kind: string | null = null;
    if (state === 'firing') {
      patch.expiresAt = expiresAt;
      if (row.state !== 'firing') {
        // Firing again: a new episode, mapped afresh (the active node may have changed).
        const t = target();
        Object.assign(patch, {
          state,
          nodeId: t.nodeId,
          scenarioId: t.scenarioId,
          mapping: t.mapping.slice(0, 512),
          startsAt: a.startsAt && a.startsAt > row.startsAt ? a.startsAt : now,
          endsAt: null,
          firstReceivedAt: now,
        });
        kind = 'external-alert-firing';
      }
    } else if (row.state === 'firing') {
      Object.assign(patch, { state, endsAt: a.endsAt ?? now });
      kind = 'external-alert-resolved';
    } else if (row.state === 'expired') {
      // The resolution of an alert that had expired unrenewed: recorded, nothing to announce.
      Object.assign(patch, { state, endsAt: a.endsAt ?? now });
    }
    const change: ReceivedAlertView['change'] = kind ? 'changed' : 'repeated';
    await repo.update({ id: row.id }, patch);
    row = Object.assign(row, patch);
    return { row, kind, view: viewOf(row, change) };
  }

  private mappingTopology(): MappingTopology {
    return {
      nodes: this.topology.allNodes().map((n) => ({ id: n.id, name: n.name, address: n.address })),
      scenarios: this.topology.allScenarios().map((t) => ({
        id: t.entity.id,
        name: t.entity.name,
        activeNodeId: t.entity.activeNodeId,
        nodeIds: t.nodeIds,
        // Every move of users sets holdUntil = end of the move + holdDownMs.
        movedAt: t.entity.holdUntil ? t.entity.holdUntil.getTime() - (t.entity.policy.holdDownMs ?? 0) : null,
      })),
    };
  }

  private eventOf(row: ExternalAlertEntity, kind: string): Partial<EventEntity> {
    const what =
      kind === 'external-alert-firing'
        ? 'firing'
        : kind === 'external-alert-resolved'
          ? 'resolved'
          : 'expired';
    const about = row.nodeId ? (this.topology.node(row.nodeId)?.name ?? row.nodeId) : null;
    return {
      kind,
      severity:
        kind === 'external-alert-firing' ? (row.severity === 'critical' ? 'critical' : 'warning') : 'info',
      nodeId: row.nodeId,
      scenarioId: row.scenarioId,
      message:
        `alert ${row.name} from ${row.observer} (${row.source}) ${what}` +
        (about ? ` about ${about}` : `, not mapped to a node: ${row.mapping}`) +
        (row.summary ? `: ${row.summary}` : ''),
      details: {
        alertId: row.id,
        name: row.name,
        source: row.source,
        observer: row.observer,
        fingerprint: row.fingerprint,
        severity: row.severity,
        mapping: row.mapping,
        mapped: row.nodeId !== null,
        labels: row.labels,
      },
    };
  }

  private announce(row: ExternalAlertEntity, kind: string): void {
    const e = this.eventOf(row, kind);
    this.notifications
      ?.publish(`${kind}.${row.id}.${row.lastReceivedAt.getTime()}`, {
        kind,
        severity: e.severity!,
        message: e.message!,
        scenarioId: row.scenarioId,
        nodeId: row.nodeId,
        details: e.details,
      })
      .catch((err: Error) => log.warn({ err: err.message }, 'webhook not queued'));
  }

  /** Firing alerts not sent again in time expire (one instance wins each row: UPDATE … RETURNING). */
  async sweep(): Promise<number> {
    try {
      const rows: ExternalAlertEntity[] = await this.dataSource.transaction(async (m) => {
        const [expired] = (await m.query(
          `UPDATE external_alerts SET state = 'expired', "endsAt" = now()
             WHERE state = 'firing' AND "expiresAt" <= now() RETURNING *`,
        )) as [ExternalAlertEntity[], number];
        for (const r of expired)
          await m.getRepository(EventEntity).insert(this.eventOf(r, 'external-alert-expired') as never);
        return expired;
      });
      for (const r of rows) this.announce(r, 'external-alert-expired');
      if (rows.length > 0) {
        log.warn(
          { count: rows.length, names: [...new Set(rows.map((r) => r.name))] },
          'firing alerts expired unrenewed',
        );
        await this.refresh();
      }
      return rows.length;
    } catch (err) {
      log.warn({ err: (err as Error).message }, 'alert expiry not run');
      return 0;
    }
  }

  /**
   * Re-read the firing, mapped alerts (single flight). A call while a read runs waits for one more
   * read after it: that read may have started before the caller's commit.
   */
  refresh(): Promise<void> {
    if (this.refreshing) {
      this.again ??= this.refreshing.then(() => {
        this.again = null;
        return this.refresh();
      });
      return this.again;
    }
    this.refreshing = this.load().finally(() => {
      this.refreshing = null;
    });
    return this.refreshing;
  }

  private async load(): Promise<void> {
    try {
      const rows: Pick<
        ExternalAlertEntity,
        | 'id'
        | 'name'
        | 'observer'
        | 'nodeId'
        | 'scenarioId'
        | 'startsAt'
        | 'firstReceivedAt'
        | 'expiresAt'
        | 'labels'
        | 'severity'
      >[] = await this.dataSource.query(
        `SELECT id, name, observer, "nodeId", "scenarioId", "startsAt", "firstReceivedAt", "expiresAt", labels, severity FROM external_alerts
             WHERE state = 'firing' AND "nodeId" IS NOT NULL AND "expiresAt" > now()
             ORDER BY "startsAt" LIMIT ${MAX_FIRING}`,
      );
      const byNode = new Map<string, FiringAlert[]>();
      for (const r of rows) {
        const list = byNode.get(r.nodeId!) ?? [];
        list.push({
          id: r.id,
          name: r.name,
          observer: r.observer,
          nodeId: r.nodeId!,
          scenarioId: r.scenarioId,
          startsAt: new Date(r.startsAt).getTime(),
          receivedAt: new Date(r.firstReceivedAt).getTime(),
          expiresAt: new Date(r.expiresAt).getTime(),
          vote: isVote(r),
        });
        byNode.set(r.nodeId!, list);
      }
      this.byNode = byNode;
    } catch (err) {
      // Keep the last view: a PostgreSQL blip must not withdraw votes (expiry still applies).
      log.debug({ err: (err as Error).message }, 'firing alerts not re-read');
    }
  }

  /** Firing alerts about a node, now. */
  firingAbout(nodeId: string, now: number): FiringAlert[] {
    const list = this.byNode.get(nodeId);
    return list ? list.filter((a) => a.expiresAt > now) : [];
  }

  /** One vote per observer with a firing alert about the node that says it is down (isVote). */
  votesAgainst(nodeId: string, now: number): AlertVote[] {
    const byObserver = new Map<string, string[]>();
    for (const a of this.firingAbout(nodeId, now)) {
      if (!a.vote) continue;
      const names = byObserver.get(a.observer) ?? [];
      if (!names.includes(a.name)) names.push(a.name);
      byObserver.set(a.observer, names);
    }
    return [...byObserver].map(([observer, alerts]) => ({ observer, alerts }));
  }

  /**
   * The firing alert that fails a scenario over on its own (policy.alerts.failover): one about its
   * active node, named in the policy, and unscoped or scoped to this scenario. Oldest first.
   */
  /** When the earliest alert still firing about the node started (one incident per node). */
  firingSince(nodeId: string, now: number): number | null {
    let since: number | null = null;
    for (const a of this.firingAbout(nodeId, now))
      if (since === null || a.startsAt < since) since = a.startsAt;
    return since;
  }

  failoverAlert(scenarioId: string, activeNodeId: string, names: string[], now: number): FiringAlert | null {
    for (const a of this.firingAbout(activeNodeId, now)) {
      if ((a.scenarioId === null || a.scenarioId === scenarioId) && names.includes(a.name)) return a;
    }
    return null;
  }

  async list(q: ListAlertsQuery): Promise<AlertPage> {
    const qb = this.dataSource.getRepository(ExternalAlertEntity).createQueryBuilder('a');
    if (q.state) qb.andWhere('a.state = :state', { state: q.state });
    if (q.source) qb.andWhere('a.source = :source', { source: q.source });
    if (q.nodeId) qb.andWhere('a."nodeId" = :nodeId', { nodeId: q.nodeId });
    if (q.scenarioId) qb.andWhere('a."scenarioId" = :scenarioId', { scenarioId: q.scenarioId });
    const [rows, total] = await qb
      .orderBy('a.lastReceivedAt', 'DESC')
      .addOrderBy('a.id', 'ASC')
      .take(q.limit)
      .skip(q.offset)
      .getManyAndCount();
    return { items: rows.map(fullView), total, limit: q.limit, offset: q.offset };
  }

  async get(id: string): Promise<AlertView | null> {
    const row = await this.dataSource.getRepository(ExternalAlertEntity).findOneBy({ id });
    return row ? fullView(row) : null;
  }
}

function viewOf(row: ExternalAlertEntity, change: ReceivedAlertView['change']): ReceivedAlertView {
  return {
    id: row.id,
    fingerprint: row.fingerprint,
    name: row.name,
    state: row.state,
    mapped: row.nodeId !== null,
    nodeId: row.nodeId,
    scenarioId: row.scenarioId,
    mapping: row.mapping,
    change,
  };
}

function fullView(r: ExternalAlertEntity): AlertView {
  return {
    id: r.id,
    source: r.source,
    observer: r.observer,
    fingerprint: r.fingerprint,
    name: r.name,
    state: r.state,
    severity: r.severity,
    summary: r.summary,
    nodeId: r.nodeId,
    scenarioId: r.scenarioId,
    mapping: r.mapping,
    labels: r.labels,
    annotations: r.annotations,
    startsAt: r.startsAt,
    endsAt: r.endsAt,
    expiresAt: r.expiresAt,
    firstReceivedAt: r.firstReceivedAt,
    lastReceivedAt: r.lastReceivedAt,
    receivedCount: r.receivedCount,
  };
}
