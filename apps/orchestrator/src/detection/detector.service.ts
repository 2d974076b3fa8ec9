/**
 * The detector: every DETECTOR_TICK_MS it turns heartbeats, relayed agent checks, network check
 * results and peer observations into one damped verdict per node, persists verdict changes as
 * events, and — when the active node of a running scenario is confirmed failed — requests a
 * failover (auto mode) or raises an alert (manual mode).
 */
import { Injectable, OnApplicationBootstrap, OnApplicationShutdown } from '@nestjs/common';
import { Verdict } from '@ha/contracts';
import { DataSource } from 'typeorm';
import { DomainError, OperationInProgressError } from '../common/errors';
import { createLogger } from '../common/logger';
import { AppConfig } from '../config/app-config';
import { HeartbeatStore } from '../heartbeats/heartbeat.store';
import { MetricsService } from '../metrics/metrics.service';
import { OperationsService } from '../operations/operations.service';
import { ScenarioCheck } from '../scenarios/scenario.types';
import { TopologyNode, TopologyService } from '../topology/topology.service';
import { CheckScheduler } from './check-scheduler';
import { CheckState, CheckTracker } from './check-tracker';
import { EventEntity } from './event.entity';
import { runProbe } from './probes';
import { StormBrakeService } from './storm-brake.service';
import { OrchestratorView, PeerVote, rawVerdict, VerdictDamper } from './verdict';

const log = createLogger('Detector');

export interface CheckEvidence {
  scenarioId: string;
  name: string;
  kind: string;
  state: CheckState;
  lastStatus: string | null;
  lastOutput?: string;
  consecutiveFailures: number;
  lastAt: number | null;
}

export interface NodeEvidence {
  nodeId: string;
  verdict: Verdict;
  since: number;
  view: OrchestratorView;
  reason: string;
  heartbeatAgeMs: number | null;
  checks: CheckEvidence[];
  observers: { observer: string; reachable: boolean; seenMsAgo: number | null; fresh: boolean }[];
  peerQuorum: number;
}

const ACTIVE_STATES = new Set(['running', 'degraded', 'failed_over', 'failing_over', 'failing_back', 'ar_testing']);
const AUTO_FAILOVER_STATES = new Set(['running', 'degraded']);

@Injectable()
export class DetectorService implements OnApplicationBootstrap, OnApplicationShutdown {
  private readonly trackers = new Map<string, { check: ScenarioCheck; scenarioId: string; tracker: CheckTracker }>();
  private readonly dampers = new Map<string, VerdictDamper>();
  private readonly evidence = new Map<string, NodeEvidence>();
  private readonly lastUserCheckAt = new Map<string, number>();
  private readonly requestedAt = new Map<string, number>();
  private readonly alerted = new Set<string>();
  private readonly scheduler = new CheckScheduler(256);
  private timer: NodeJS.Timeout | null = null;
  private ticking = false;
  enabled = false;

  constructor(
    private readonly config: AppConfig,
    private readonly dataSource: DataSource,
    private readonly store: HeartbeatStore,
    private readonly topology: TopologyService,
    private readonly operations: OperationsService,
    private readonly stormBrake: StormBrakeService,
    private readonly metrics: MetricsService,
  ) {}

  onApplicationBootstrap(): void {
    if (!this.config.roles.has('detector')) return;
    this.enabled = true;
    this.timer = setInterval(() => void this.tick(), this.config.DETECTOR_TICK_MS);
    this.timer.unref();
  }

  onApplicationShutdown(): void {
    if (this.timer) clearInterval(this.timer);
    this.scheduler.stop();
  }

  evidenceOf(nodeId: string): NodeEvidence | undefined {
    return this.evidence.get(nodeId);
  }

  async tick(now = Date.now()): Promise<void> {
    if (this.ticking) return;
    this.ticking = true;
    try {
      this.syncNetworkChecks();
      const watched = new Map<string, { node: TopologyNode; quorum: number; holdMs: number }>();
      for (const t of this.topology.allScenarios()) {
        if (!ACTIVE_STATES.has(t.entity.state)) continue;
        for (const id of t.nodeIds) {
          const node = this.topology.node(id);
          if (!node) continue;
          const prev = watched.get(id);
          watched.set(id, {
            node,
            quorum: Math.max(prev?.quorum ?? 0, t.entity.policy.peerQuorum),
            holdMs: Math.min(prev?.holdMs ?? Infinity, t.entity.policy.recoveryHoldMs),
          });
        }
      }
      for (const [id, w] of watched) await this.evaluate(w.node, w.quorum, w.holdMs, now);
      for (const id of [...this.evidence.keys()]) if (!watched.has(id)) this.evidence.delete(id);
      await this.act(now);
    } catch (err) {
      log.warn({ err: (err as Error).message }, 'detector tick failed');
    } finally {
      this.ticking = false;
    }
  }

  private heartbeatTtl(nodeId: string): { ttl: number; interval: number } {
    let ttl = Infinity;
    let interval = Infinity;
    for (const t of this.topology.scenariosOfNode(nodeId)) {
      for (const c of t.entity.checks) {
        if (c.kind !== 'heartbeat') continue;
        ttl = Math.min(ttl, c.ttlMs ?? 3 * c.intervalMs);
        interval = Math.min(interval, c.intervalMs);
      }
    }
    return { ttl, interval };
  }

  private async evaluate(node: TopologyNode, quorum: number, holdMs: number, now: number): Promise<void> {
    const live = this.store.get(node.id);
    const { ttl, interval } = this.heartbeatTtl(node.id);
    const hbAge = live ? now - live.lastSeenAt : null;
    let view: OrchestratorView = 'up';
    let hbState: CheckState = 'passing';
    if (ttl !== Infinity) {
      const age = hbAge ?? now - this.store.startedAt;
      if (age > ttl) hbState = live || now - this.store.startedAt > ttl ? 'failing' : 'pending';
      else if (age > 1.5 * interval + 250) hbState = 'pending';
      if (!live && now - this.store.startedAt <= ttl) view = 'unknown';
    }
    // Relayed user-defined checks: feed each new result once.
    const checks: CheckEvidence[] = [];
    for (const t of this.topology.scenariosOfNode(node.id)) {
      for (const c of t.entity.checks) {
        if (c.kind === 'heartbeat') {
          checks.push({
            scenarioId: t.entity.id,
            name: c.name,
            kind: c.kind,
            state: hbState,
            lastStatus: hbState === 'failing' ? 'critical' : hbState === 'passing' ? 'ok' : 'unknown',
            lastOutput: hbAge === null ? 'no heartbeat yet' : `last heartbeat ${hbAge} ms ago (ttl ${ttl} ms)`,
            consecutiveFailures: hbState === 'failing' ? 1 : 0,
            lastAt: live?.lastSeenAt ?? null,
          });
          continue;
        }
        const key = `${node.id}/${t.entity.id}/${c.name}`;
        let entry = this.trackers.get(key);
        if (!entry) {
          entry = { check: c, scenarioId: t.entity.id, tracker: new CheckTracker(c.failureThreshold, c.recoveryThreshold) };
          this.trackers.set(key, entry);
        }
        if (c.kind === 'user' && live && hbState !== 'failing') {
          const r = live.report.checks.find((x) => x.name === c.agentCheck);
          if (r && this.lastUserCheckAt.get(key) !== r.at) {
            this.lastUserCheckAt.set(key, r.at);
            entry.tracker.record(r.status, now, r.output);
          }
        }
        const tr = entry.tracker;
        checks.push({
          scenarioId: t.entity.id,
          name: c.name,
          kind: c.kind,
          state: tr.state,
          lastStatus: tr.lastStatus,
          lastOutput: tr.lastOutput,
          consecutiveFailures: tr.consecutiveFailures,
          lastAt: tr.lastAt,
        });
      }
    }
    if (view !== 'unknown') {
      if (checks.some((c) => c.state === 'failing')) view = 'down';
      else if (checks.some((c) => c.consecutiveFailures > 0 || (c.kind === 'heartbeat' && c.state === 'pending')))
        view = 'suspect';
    }
    // Peer votes: only observers that are alive themselves and reported recently count.
    const votes: PeerVote[] = this.store.observationsOf(node.id).map((o) => {
      const observer = this.store.get(o.observerNodeId);
      const obsTtl = this.heartbeatTtl(o.observerNodeId).ttl;
      const alive = !!observer && now - observer.lastSeenAt <= (obsTtl === Infinity ? 3000 : obsTtl);
      return {
        observer: this.topology.node(o.observerNodeId)?.name ?? o.observerNodeId,
        reachable: o.reachable,
        seenMsAgo: o.seenAt === null ? null : now - o.seenAt,
        fresh: alive && now - o.reportedAt <= 2 * (obsTtl === Infinity ? 3000 : obsTtl),
      };
    });
    const raw = rawVerdict({ view, votes, peerQuorum: quorum });
    let damper = this.dampers.get(node.id);
    if (!damper) this.dampers.set(node.id, (damper = new VerdictDamper(holdMs)));
    damper.setHold(holdMs);
    const d = damper.update(raw.verdict, now);
    const ev: NodeEvidence = {
      nodeId: node.id,
      verdict: d.verdict,
      since: damper.since,
      view,
      reason: d.verdict === 'failed' && raw.verdict !== 'failed' ? `recovering (hold ${holdMs} ms)` : raw.reason,
      heartbeatAgeMs: hbAge,
      checks,
      observers: votes,
      peerQuorum: quorum,
    };
    this.evidence.set(node.id, ev);
    if (d.changed) await this.recordChange(node, d.previous, ev);
  }

  private async recordChange(node: TopologyNode, previous: Verdict, ev: NodeEvidence): Promise<void> {
    this.metrics.verdictChanges.inc({ verdict: ev.verdict });
    const level = ev.verdict === 'failed' ? 'warn' : 'info';
    log[level]({ node: node.name, from: previous, to: ev.verdict, reason: ev.reason }, 'verdict changed');
    try {
      await this.dataSource.transaction(async (m) => {
        await m.getRepository(EventEntity).insert({
          kind: 'verdict-changed',
          severity: ev.verdict === 'failed' ? 'critical' : ev.verdict === 'suspect' ? 'warning' : 'info',
          nodeId: node.id,
          scenarioId: null,
          message: `${node.name}: ${previous} → ${ev.verdict} (${ev.reason})`,
          details: { from: previous, to: ev.verdict, evidence: ev } as never,
        });
        await m.query(
          `INSERT INTO node_status ("nodeId", verdict, evidence, "updatedAt") VALUES ($1, $2, $3::jsonb, now())
           ON CONFLICT ("nodeId") DO UPDATE SET verdict = EXCLUDED.verdict, evidence = EXCLUDED.evidence, "updatedAt" = now()`,
          [node.id, ev.verdict, JSON.stringify(ev)],
        );
      });
    } catch (err) {
      log.warn({ err: (err as Error).message }, 'could not persist verdict change');
    }
  }

  /** Failed active node of a running scenario → failover (auto) or alert (manual). */
  private async act(now: number): Promise<void> {
    for (const t of this.topology.allScenarios()) {
      const s = t.entity;
      const ev = this.evidence.get(s.activeNodeId);
      const key = `${s.id}/${s.activeNodeId}/${s.epoch}`;
      if (!ev || ev.verdict !== 'failed' || !AUTO_FAILOVER_STATES.has(s.state)) {
        if (ev?.verdict !== 'failed') this.alerted.delete(key);
        continue;
      }
      const node = this.topology.node(s.activeNodeId)?.name ?? s.activeNodeId;
      if (s.failoverMode === 'manual') {
        if (!this.alerted.has(key)) {
          this.alerted.add(key);
          await this.event('alert', 'critical', s.id, s.activeNodeId, `${node} (active of ${s.name}) failed: manual mode, waiting for an operator`, ev);
        }
        continue;
      }
      if ((this.requestedAt.get(s.id) ?? 0) > now - 5000) continue;
      if (s.holdUntil && s.holdUntil.getTime() > now) {
        if (!this.alerted.has(key)) {
          this.alerted.add(key);
          await this.event('failover-suppressed', 'warning', s.id, s.activeNodeId, `${node} failed but ${s.name} is in its hold-down period until ${s.holdUntil.toISOString()}`, ev);
        }
        continue;
      }
      this.requestedAt.set(s.id, now);
      try {
        if (!(await this.stormBrake.allowAutomatic())) {
          if (!this.alerted.has(key)) {
            this.alerted.add(key);
            await this.event('failover-suppressed', 'critical', s.id, s.activeNodeId, `${node} failed but the storm brake is engaged`, ev);
          }
          continue;
        }
        const op = await this.operations.request({
          scenarioId: s.id,
          type: 'failover',
          trigger: 'auto',
          requestedBy: 'detector',
          reason: `${node} failed: ${ev.reason}`,
          params: { force: true, detectedAt: ev.since },
        });
        log.warn({ scenario: s.name, operationId: op.id, node }, 'automatic failover requested');
        await this.event('failover-requested', 'critical', s.id, s.activeNodeId, `automatic failover of ${s.name} requested: ${node} failed`, { operationId: op.id });
      } catch (err) {
        if (err instanceof OperationInProgressError) continue;
        const msg = err instanceof DomainError ? err.message : (err as Error).message;
        log.warn({ scenario: s.name, err: msg }, 'automatic failover not started');
      }
    }
  }

  private async event(kind: string, severity: 'info' | 'warning' | 'critical', scenarioId: string, nodeId: string, message: string, details: unknown) {
    await this.dataSource
      .getRepository(EventEntity)
      .insert({ kind, severity, scenarioId, nodeId, message, details: details as never })
      .catch((err: Error) => log.warn({ err: err.message }, 'could not record event'));
  }

  /** Keep one scheduler job per (node, network check) of active scenarios. */
  private syncNetworkChecks(): void {
    const wanted = new Set<string>();
    for (const t of this.topology.allScenarios()) {
      if (!ACTIVE_STATES.has(t.entity.state)) continue;
      for (const c of t.entity.checks) {
        if (!['ping', 'tcp', 'http', 'database'].includes(c.kind)) continue;
        for (const id of t.nodeIds) {
          const node = this.topology.node(id);
          if (!node) continue;
          const key = `${id}/${t.entity.id}/${c.name}`;
          wanted.add(key);
          this.scheduler.upsert({
            key,
            intervalMs: c.intervalMs,
            run: async () => {
              const r = await runProbe(c, node);
              this.metrics.checksRun.inc({ kind: c.kind, status: r.status });
              let entry = this.trackers.get(key);
              if (!entry) {
                entry = { check: c, scenarioId: t.entity.id, tracker: new CheckTracker(c.failureThreshold, c.recoveryThreshold) };
                this.trackers.set(key, entry);
              }
              entry.tracker.record(r.status, Date.now(), r.output);
            },
          });
        }
      }
    }
    for (const key of this.scheduler.keys()) if (!wanted.has(key)) this.scheduler.remove(key);
    for (const key of [...this.trackers.keys()]) if (!wanted.has(key) && !key.includes('/')) this.trackers.delete(key);
  }
}
