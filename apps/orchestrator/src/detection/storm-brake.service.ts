/**
 * Storm brake (anti-flap across scenarios): when more than STORM_MAX_FAILOVERS failure incidents
 * were failed over automatically within STORM_WINDOW_MS, automatic action stops everywhere until an
 * admin acknowledges. Manual operations stay possible. The switch lives in PostgreSQL so every
 * instance obeys it.
 * An incident is one failed node: a host carrying 1,000 scenarios that dies is one incident (its
 * scenarios fail over together, not 3 of them and then a brake), and the failovers of one node's
 * scenarios belong to the same incident while less than INCIDENT_GAP_MS separate them. The same node
 * failing again later (after a failback) is a new incident; so is each node of a storm.
 */
import { Injectable, Optional } from '@nestjs/common';
import { DataSource } from 'typeorm';
import { AuditService } from '../audit/audit.service';
import { SettingEntity } from '../common/setting.entity';
import { AppConfig } from '../config/app-config';
import { MetricsService } from '../metrics/metrics.service';
import { NotificationsService } from '../notify/notifications.service';
import { EventEntity } from './event.entity';

const KEY = 'storm-brake';
/** Automatic failovers of the same failed node this close together are one incident. */
export const INCIDENT_GAP_MS = 60_000;

export interface StormBrakeState {
  engaged: boolean;
  engagedAt: string | null;
  recentAutomaticFailovers: number;
  /** failure incidents (failed nodes, see above) among them: what the brake counts */
  recentIncidents: number;
  maxFailovers: number;
  windowMs: number;
  acknowledgedBy: string | null;
  acknowledgedAt: string | null;
}

@Injectable()
export class StormBrakeService {
  private cache: { engaged: boolean; at: number } = { engaged: false, at: 0 };

  constructor(
    private readonly dataSource: DataSource,
    private readonly config: AppConfig,
    private readonly audit: AuditService,
    private readonly metrics: MetricsService,
    @Optional() private readonly notifications?: NotificationsService,
  ) {}

  /** Automatic failovers in the window (after the last acknowledgement), as incidents per failed node. */
  private async recent(since: Date | null, now = Date.now()) {
    const from = new Date(Math.max(now - this.config.STORM_WINDOW_MS, since?.getTime() ?? 0));
    const rows: { node: string | null; at: Date }[] = await this.dataSource.query(
      `SELECT COALESCE(params->>'failedNodeId', params->>'previousActiveNodeId') AS node, "createdAt" AS at
         FROM operations WHERE type = 'failover' AND trigger = 'auto' AND "createdAt" > $1
        ORDER BY "createdAt"`,
      [from],
    );
    const last = new Map<string, number>();
    let incidents = 0;
    for (const r of rows) {
      const node = r.node ?? 'unknown';
      const at = new Date(r.at).getTime();
      const prev = last.get(node);
      if (prev === undefined || at - prev > INCIDENT_GAP_MS) incidents++;
      last.set(node, at);
    }
    // Nodes whose incident is still going on: more of their scenarios may follow without a new count.
    const ongoing = new Set([...last].filter(([, at]) => now - at <= INCIDENT_GAP_MS).map(([n]) => n));
    return { failovers: rows.length, incidents, ongoing };
  }

  private async setting() {
    const row = await this.dataSource.getRepository(SettingEntity).findOne({ where: { key: KEY } });
    const v = (row?.value ?? {}) as Record<string, string | boolean | null>;
    return { v, ackAt: v.acknowledgedAt ? new Date(String(v.acknowledgedAt)) : null };
  }

  async state(): Promise<StormBrakeState> {
    const { v, ackAt } = await this.setting();
    const r = await this.recent(ackAt);
    return {
      engaged: v.engaged === true,
      engagedAt: (v.engagedAt as string) ?? null,
      recentAutomaticFailovers: r.failovers,
      recentIncidents: r.incidents,
      maxFailovers: this.config.STORM_MAX_FAILOVERS,
      windowMs: this.config.STORM_WINDOW_MS,
      acknowledgedBy: (v.acknowledgedBy as string) ?? null,
      acknowledgedAt: (v.acknowledgedAt as string) ?? null,
    };
  }

  /**
   * Of these failed nodes, the ones whose scenarios may fail over automatically now: none while the
   * brake is engaged; a node whose incident is going on; a new one while the budget lasts. Engages
   * the brake when a new incident finds the budget spent.
   */
  async allowIncidents(failedNodeIds: string[]): Promise<Set<string>> {
    const allowed = new Set<string>();
    const { v, ackAt } = await this.setting();
    if (v.engaged === true) {
      this.metrics.stormBrake.set(1);
      return allowed;
    }
    const r = await this.recent(ackAt);
    let incidents = r.incidents;
    let refused: string | null = null;
    for (const id of failedNodeIds) {
      if (r.ongoing.has(id)) allowed.add(id);
      else if (incidents < this.config.STORM_MAX_FAILOVERS) {
        allowed.add(id);
        incidents++;
      } else refused ??= id;
    }
    if (refused === null) {
      this.metrics.stormBrake.set(0);
      return allowed;
    }
    const message =
      `storm brake engaged: ${incidents} failure incidents (${r.failovers} automatic failovers) within ` +
      `${this.config.STORM_WINDOW_MS} ms and another node failed; automatic action paused until an admin acknowledges`;
    await this.dataSource.transaction(async (m) => {
      await m.getRepository(SettingEntity).save({
        key: KEY,
        value: {
          engaged: true,
          engagedAt: new Date().toISOString(),
          acknowledgedBy: null,
          acknowledgedAt: v.acknowledgedAt ?? null,
        },
      });
      await m.getRepository(EventEntity).insert({
        kind: 'storm-brake',
        severity: 'critical',
        message,
        details: { incidents, failovers: r.failovers, refusedNodeId: refused } as never,
        nodeId: null,
        scenarioId: null,
      });
    });
    await this.notifications
      ?.publish(`storm-brake.${Date.now()}`, { kind: 'storm-brake', severity: 'critical', message })
      .catch(() => undefined);
    this.metrics.stormBrake.set(1);
    // Nodes of incidents already under way in this same decision still move (never half an incident).
    return allowed;
  }

  async acknowledge(actor: string, reason: string): Promise<StormBrakeState> {
    await this.dataSource.transaction(async (m) => {
      await m.getRepository(SettingEntity).save({
        key: KEY,
        value: {
          engaged: false,
          engagedAt: null,
          acknowledgedBy: actor,
          acknowledgedAt: new Date().toISOString(),
        },
      });
      await this.audit.record({ actor, action: 'storm-brake.acknowledge', targetType: 'cluster', reason }, m);
    });
    this.metrics.stormBrake.set(0);
    return this.state();
  }
}
