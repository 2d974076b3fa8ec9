/**
 * Storm brake (anti-flap across scenarios): when more than STORM_MAX_FAILOVERS failure incidents
 * were failed over automatically within STORM_WINDOW_MS, automatic action stops everywhere until an
 * admin acknowledges. Manual operations stay possible. The switch lives in PostgreSQL so every
 * instance obeys it.
 * An incident is one failure of one node (the detector's `failed` verdict, from its start): a host
 * carrying 1,000 scenarios that dies is one incident (its scenarios fail over together, not 3 of
 * them and then a brake). A scenario failing over a second time within the same failure (users
 * were moved back meanwhile), or the node failing again later, is a new incident: a flapping node
 * spends the budget like a storm of nodes does.
 */
import { Injectable, Optional } from '@nestjs/common';
import { DataSource } from 'typeorm';
import { AuditService } from '../audit/audit.service';
import { SettingEntity } from '../common/setting.entity';
import { AppConfig } from '../config/app-config';
import { MetricsService } from '../metrics/metrics.service';
import { NotificationsService } from '../notify/notifications.service';
import { EventEntity } from './event.entity';
import { pushTo } from '../common/push-to';

const KEY = 'storm-brake';
/** The incident an automatic failover belongs to: the failed node and when its failure began. */
export function incidentKey(failedNodeId: string, detectedAt: number): string {
  return `${failedNodeId}@${detectedAt}`;
}

/** A scenario that would fail over automatically, and the incident it would fail over for. */
export interface BrakeCandidate {
  key: string;
  scenarioId: string;
  /** candidates with the same unit are granted together or not at all (a switch-all group action) */
  unit?: string;
}

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

/** Automatic failovers in the window, per incident key: how often each scenario moved. */
export type IncidentLedger = Map<string, Map<string, number>>;

export function ledgerOf(failovers: { key: string; scenarioId: string }[]): IncidentLedger {
  const ledger: IncidentLedger = new Map();
  for (const f of failovers) {
    let moves = ledger.get(f.key);
    if (!moves) ledger.set(f.key, (moves = new Map()));
    moves.set(f.scenarioId, (moves.get(f.scenarioId) ?? 0) + 1);
  }
  return ledger;
}

/** Incidents of one key: the most times one scenario moved within it (each repeat is a flap). */
function incidentsOf(moves: Map<string, number> | undefined): number {
  let n = 0;
  for (const m of moves?.values() ?? []) n = Math.max(n, m);
  return n;
}

export function countIncidents(ledger: IncidentLedger): number {
  let total = 0;
  for (const moves of ledger.values()) total += incidentsOf(moves);
  return total;
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
    // (the window bounds which failovers count; incidents are told apart by their keys)
    const from = new Date(Math.max(now - this.config.STORM_WINDOW_MS, since?.getTime() ?? 0));
    // An operation from before incidents were recorded counts as an incident of its own.
    const rows: { key: string; scenarioId: string }[] = await this.dataSource.query(
      `SELECT CASE WHEN params ? 'stormKey' THEN params->>'stormKey'
                   WHEN params ? 'failedNodeId' AND params ? 'detectedAt'
                   THEN (params->>'failedNodeId') || '@' || (params->>'detectedAt') ELSE id::text END AS key,
              "scenarioId"
         FROM operations WHERE type = 'failover' AND trigger = 'auto' AND "createdAt" > $1`,
      [from],
    );
    const ledger = ledgerOf(rows.map((r) => ({ key: r.key, scenarioId: String(r.scenarioId) })));
    return { failovers: rows.length, incidents: countIncidents(ledger), ledger };
  }

  private async setting() {
    const row = await this.dataSource.getRepository(SettingEntity).findOne({ where: { key: KEY } });
    const v = (row?.value ?? {}) as Record<string, string | boolean | null>;
    return { v, ackAt: v.acknowledgedAt ? new Date(String(v.acknowledgedAt)) : null };
  }

  /** Engaged now (one small read; automatic failbacks ask before they start). */
  async isEngaged(): Promise<boolean> {
    return (await this.setting()).v.engaged === true;
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
   * Of these candidates (a scenario and the incident it would fail over for), the scenarios that may
   * fail over automatically now: none while the brake is engaged; those of an incident under way
   * that have not moved in it yet; those starting a new incident (a new failure, or a scenario
   * moving again within one) while the budget lasts. Engages the brake when a new incident finds
   * the budget spent. Candidates sharing a `unit` (a switch-all group action: the failed members'
   * incidents and one per healthy mate's production node it would move) need budget for all of
   * their new incidents together, or none of them moves.
   */
  async allowIncidents(candidates: BrakeCandidate[]): Promise<Set<string>> {
    const allowed = new Set<string>();
    const { v, ackAt } = await this.setting();
    if (v.engaged === true) {
      this.metrics.stormBrake.set(1);
      return allowed;
    }
    const r = await this.recent(ackAt);
    let incidents = r.incidents;
    let refused: string | null = null;
    // A unit is granted whole or not at all: a switch-all group action (its members' incidents
    // and each healthy mate's) is checked before any member starts, never half of it.
    const units = new Map<string, { whole: boolean; keys: Map<string, string[]> }>();
    for (const c of candidates) {
      const name = c.unit ?? c.key;
      let unit = units.get(name);
      if (!unit) units.set(name, (unit = { whole: c.unit !== undefined, keys: new Map() }));
      pushTo(unit.keys, c.key, c.scenarioId);
    }
    const grantedKeys = new Set<string>();
    for (const [name, { whole, keys }] of units) {
      const underWay: string[] = [];
      const fresh: string[] = [];
      const freshKeys: string[] = [];
      for (const [key, scenarioIds] of keys) {
        const moves = r.ledger.get(key);
        const under = incidentsOf(moves);
        // Scenarios of an incident under way that have not moved in it yet: never half an incident.
        for (const id of scenarioIds) if ((moves?.get(id) ?? 0) < under) underWay.push(id);
        const f = scenarioIds.filter((id) => (moves?.get(id) ?? 0) >= under);
        if (f.length === 0) continue;
        fresh.push(...f);
        if (!grantedKeys.has(key)) freshKeys.push(key);
      }
      const granted = fresh.length === 0 || incidents + freshKeys.length <= this.config.STORM_MAX_FAILOVERS;
      // An incident's scenarios finish it; a group action (whole) goes only all together.
      if (granted || !whole) for (const id of underWay) allowed.add(id);
      if (fresh.length === 0) continue;
      if (granted) {
        for (const id of fresh) allowed.add(id);
        for (const key of freshKeys) grantedKeys.add(key);
        incidents += freshKeys.length;
      } else refused ??= name;
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
        details: { incidents, failovers: r.failovers, refusedIncident: refused } as never,
        nodeId: null,
        scenarioId: null,
      });
    });
    await this.notifications
      ?.publish(`storm-brake.${Date.now()}`, { kind: 'storm-brake', severity: 'critical', message })
      .catch(() => undefined);
    this.metrics.stormBrake.set(1);
    // Scenarios of incidents already under way still move (never half an incident).
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
