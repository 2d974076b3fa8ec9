/**
 * Storm brake (anti-flap across scenarios): when more than STORM_MAX_FAILOVERS automatic failovers
 * happened within STORM_WINDOW_MS, automatic action stops everywhere until an admin acknowledges.
 * Manual operations stay possible. The switch lives in PostgreSQL so every instance obeys it.
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

export interface StormBrakeState {
  engaged: boolean;
  engagedAt: string | null;
  recentAutomaticFailovers: number;
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

  private async recentCount(since: Date | null): Promise<number> {
    const from = new Date(Math.max(Date.now() - this.config.STORM_WINDOW_MS, since?.getTime() ?? 0));
    const rows: { n: string }[] = await this.dataSource.query(
      `SELECT count(*) AS n FROM operations WHERE type = 'failover' AND trigger = 'auto' AND "createdAt" > $1`,
      [from],
    );
    return Number(rows[0].n);
  }

  async state(): Promise<StormBrakeState> {
    const row = await this.dataSource.getRepository(SettingEntity).findOne({ where: { key: KEY } });
    const v = (row?.value ?? {}) as Record<string, string | boolean | null>;
    const ackAt = v.acknowledgedAt ? new Date(String(v.acknowledgedAt)) : null;
    return {
      engaged: v.engaged === true,
      engagedAt: (v.engagedAt as string) ?? null,
      recentAutomaticFailovers: await this.recentCount(ackAt),
      maxFailovers: this.config.STORM_MAX_FAILOVERS,
      windowMs: this.config.STORM_WINDOW_MS,
      acknowledgedBy: (v.acknowledgedBy as string) ?? null,
      acknowledgedAt: (v.acknowledgedAt as string) ?? null,
    };
  }

  /** true when an automatic failover may start now; engages the brake when the budget is spent. */
  async allowAutomatic(): Promise<boolean> {
    const s = await this.state();
    if (s.engaged) {
      this.metrics.stormBrake.set(1);
      return false;
    }
    if (s.recentAutomaticFailovers >= this.config.STORM_MAX_FAILOVERS) {
      const message = `storm brake engaged: ${s.recentAutomaticFailovers} automatic failovers within ${this.config.STORM_WINDOW_MS} ms; automatic action paused until an admin acknowledges`;
      await this.dataSource.transaction(async (m) => {
        await m.getRepository(SettingEntity).save({
          key: KEY,
          value: {
            engaged: true,
            engagedAt: new Date().toISOString(),
            acknowledgedBy: null,
            acknowledgedAt: s.acknowledgedAt,
          },
        });
        await m.getRepository(EventEntity).insert({
          kind: 'storm-brake',
          severity: 'critical',
          message,
          details: {} as never,
          nodeId: null,
          scenarioId: null,
        });
      });
      await this.notifications
        ?.publish(`storm-brake.${Date.now()}`, { kind: 'storm-brake', severity: 'critical', message })
        .catch(() => undefined);
      this.metrics.stormBrake.set(1);
      return false;
    }
    this.metrics.stormBrake.set(0);
    return true;
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
