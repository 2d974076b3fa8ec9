/**
 * The detector: every DETECTOR_TICK_MS it turns heartbeats, relayed agent checks, network check
 * results and peer observations into one damped verdict per node, persists verdict changes as
 * events, and — when the active node of a running scenario is confirmed failed — requests a
 * failover (auto mode) or raises an alert (manual mode). A failover of a member of a group with
 * switch-all-if-any-fails also fails over the group's other running members, so a distributed
 * application moves as a whole.
 * Events are written by a background queue: a slow or unreachable PostgreSQL delays the record,
 * never the verdicts (fail static), and nothing is dropped while it is down (up to a bound).
 */
import { AlertsService } from '../alerts/alerts.service';
import { randomUUID } from 'node:crypto';
import { hostname } from 'node:os';
import { Injectable, OnApplicationBootstrap, OnApplicationShutdown, Optional } from '@nestjs/common';
import { Verdict } from '@ha/contracts';
import { DataSource } from 'typeorm';
import { DomainError, OperationInProgressError } from '../common/errors';
import { createLogger } from '../common/logger';
import { AppConfig } from '../config/app-config';
import { DetectorMembership } from '../cluster/membership.service';
import { HeartbeatStore, PeerObservation, readPeerViews } from '../heartbeats/heartbeat.store';
import { RedisService } from '../redis/redis.service';
import { MetricsService } from '../metrics/metrics.service';
import { NotificationsService } from '../notify/notifications.service';
import { ArTestAbortingError, OperationResult, OperationsService } from '../operations/operations.service';
import { PROTECTED_STATES, ScenarioCheck } from '../scenarios/scenario.types';
import { TopologyNode, TopologyService } from '../topology/topology.service';
import { CheckScheduler, DEFAULT_CHECK_CONCURRENCY } from './check-scheduler';
import { CheckState, CheckTracker } from './check-tracker';
import { GroupView } from '../groups/dtos/group.dto';
import { MaintenanceService } from '../maintenance/maintenance.service';
import { GroupsService } from '../groups/groups.service';
import { ScenarioEntity } from '../scenarios/scenario.entity';
import { EventEntity } from './event.entity';
import { DecisionRow, insertDecision } from '../decisions/decision-insert';
import { brakeDecision, decide, decideFailback, Decision, groupBrakeDecision } from './decision';
import { openFailbackWindow } from '../scenarios/failback-window';
import { runProbe } from './probes';
import { findFping, FpingBatcher, Pinger } from './ping-batch';
import { LeaderElection } from './leader-election';
import { incidentKey, StormBrakeService } from './storm-brake.service';
import { OrchestratorView, PeerVote, rawVerdict, VerdictDamper } from './verdict';
import { pushTo } from '../common/push-to';

/** A detector tick running longer than this is reported. */
const SLOW_TICK_MS = 2000;
/** How long a failover decision waits for another instance's (PostgreSQL advisory lock). */
const ACT_LOCK_TIMEOUT_MS = 2000;
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
  /** the orchestrator lost the node and its peers do not confirm it (so it is not failed) */
  noQuorum?: boolean;
  /**
   * Still `failed` only because the verdict holds for recoveryHoldMs: by the evidence of now it is
   * not failed (heard again). It is not called healthy yet, and it is not failed over either.
   */
  recovering?: boolean;
}

const ACTIVE_STATES = PROTECTED_STATES;
/**
 * ar_testing included: an AR test must never delay protection. The failover request flags the
 * test for abort (its runner skips to rewind + resume) and is retried here about a second later.
 */
/** How long a node may report `production` at an older epoch (it is demoting itself) before it is a split. */
const STALE_PRODUCTION_GRACE_MS = 15_000;
/**
 * Group mates switched because another member failed: their own production is healthy, so a mate
 * under an AR test is left alone (as before AR existed); it is not aborted for a neighbour.
 */
const GROUP_SWITCH_STATES = new Set(['running', 'degraded']);
/** How soon a failover held up by an aborting AR test is requested again. */
const AR_ABORT_RETRY_MS = 1000;
/** Between automatic failover requests for one scenario; doubled per operation of the same incident, up to the max. */
const RETRY_MS = 5000;
const RETRY_MAX_MS = 120_000;
/** How often per-scenario decision state of deleted scenarios is dropped. */
const PRUNE_MS = 60_000;
const NETWORK_KINDS = new Set(['ping', 'tcp', 'http', 'database']);
/** An agent not heard for this long would not answer a demote either (fencing-blocked pre-check). */
const AGENT_SILENT_MS = 1000;

/** Liveness window of an observer whose scenarios have no heartbeat check. */
const DEFAULT_TTL_MS = 3000;
/** A healthy node on the fast path is still evaluated in full this often (observers in its evidence). */
const FULL_EVALUATION_MS = 2000;
/** Remote peer views read per tick at most (nodes whose heartbeats are lost: few, unless a site died). */
const MAX_REMOTE_READS = 2000;
/** The advisory lock that serialises automatic failover decisions across instances (storm brake). */
const ACT_LOCK_NAME = 'detector-failover-decision';
/** Events kept in memory while PostgreSQL cannot take them; the oldest go first beyond this. */
const MAX_PENDING_EVENTS = 10_000;

/** A scenario the detector fails back automatically now (policy.failback), in the window opened then. */
interface Failback {
  s: ScenarioEntity;
  ev: NodeEvidence;
  d: Decision;
  openedAt: number;
}

/** A scenario whose active node failed and that may be failed over automatically now. */
interface Candidate {
  s: ScenarioEntity;
  node: string;
  ev: NodeEvidence;
  /** what decide() said (a failover), and the id of its record, which the operation names */
  d: Decision;
  decisionId: string;
}

/** Options of DetectorService.recordDecision. */
interface DecisionOptions {
  /** what else tells this decision apart from the last one recorded (a window id, an operation id) */
  key?: string;
  /** extra details of the event that announces it */
  details?: Record<string, unknown>;
  /** the record's id when the operation it requests already names it */
  id?: string;
  operationId?: string;
  /** the node it is about (default: the scenario's active node) */
  nodeId?: string;
  /** not compared with the scenario's last decision (the caller deduplicates) */
  unique?: boolean;
  /** a second line of decisions for the scenario (failback beside failover) */
  slot?: string;
}

/** The failback decisions' slot (recordDecision, retry). */
const FAILBACK_SLOT = '/failback';

/** A decision record as the detector queues it (the instance is added when it is written). */
type QueuedDecision = Omit<DecisionRow, 'decidedBy'>;

interface PendingEvent {
  decision?: QueuedDecision;
  event?: Pick<EventEntity, 'kind' | 'severity' | 'nodeId' | 'scenarioId' | 'message' | 'details'>;
  /** node_status upsert that goes with a verdict change */
  status?: { nodeId: string; verdict: Verdict; evidence: string };
}

@Injectable()
export class DetectorService implements OnApplicationBootstrap, OnApplicationShutdown {
  private readonly trackers = new Map<
    string,
    { check: ScenarioCheck; scenarioId: string; tracker: CheckTracker }
  >();
  private readonly dampers = new Map<string, VerdictDamper>();
  private readonly evidence = new Map<string, NodeEvidence>();
  private readonly lastUserCheckAt = new Map<string, number>();
  /**
   * Per scenario, when the detector may request its next automatic failover, and for which incident
   * (epoch, active node, start of the failure) it counted the operations it started: an incident
   * whose failovers keep failing (no replica the policy allows, say) is retried with backoff, not
   * every 5 s forever.
   */
  private readonly retry = new Map<string, { incident: string; started: number; nextAt: number }>();
  private readonly alerted = new Map<string, Set<string>>();
  /** Per scenario, what the last decision recorded was about: a new record only when that changes. */
  private readonly decided = new Map<string, string>();
  private readonly staleProductionSince = new Map<string, number>();
  /** With sharding: since when this instance watches each node (a node taken over starts its clock then) */
  private readonly watchedSince = new Map<string, number>();
  /** With sharding: since when each node's view is `down`, and the peer views other instances took */
  private readonly downSince = new Map<string, number>();
  /** since when each node is down to the orchestrator without its peers confirming it */
  private readonly noQuorumSince = new Map<string, number>();
  private readonly remoteViews = new Map<string, { fetchedAt: number; views: PeerObservation[] }>();
  private readonly wantRemote = new Set<string>();
  private readonly scheduler = new CheckScheduler(DEFAULT_CHECK_CONCURRENCY);
  /** ping checks through batched fping (PING_MODE); null = one ping process per probe */
  private pinger: Pinger | null = null;
  private readonly pending: PendingEvent[] = [];
  private flushing: Promise<void> | null = null;
  private persistFailing = false;
  private timer: NodeJS.Timeout | null = null;
  private ticking = false;
  private tickStartedAt = 0;
  private slowTickWarnedAt = 0;
  enabled = false;

  constructor(
    private readonly config: AppConfig,
    private readonly dataSource: DataSource,
    private readonly store: HeartbeatStore,
    private readonly topology: TopologyService,
    private readonly operations: OperationsService,
    private readonly stormBrake: StormBrakeService,
    private readonly metrics: MetricsService,
    @Optional() private readonly notifications?: NotificationsService,
    /** absent only in unit specs that do not exercise groups */
    @Optional() private readonly groups?: GroupsService,
    @Optional() private readonly leader?: LeaderElection,
    @Optional() private readonly membership?: DetectorMembership,
    @Optional() private readonly redis?: RedisService,
    @Optional() private readonly maintenance?: MaintenanceService,
    @Optional() private readonly alerts?: AlertsService,
  ) {}

  /** Detection shared across instances (DetectorMembership): each evaluates its share only. */
  private get sharded(): boolean {
    return this.membership?.enabled === true;
  }

  /** This instance records and acts for the node: its owner (sharded), or the leader. */
  private actsFor(nodeId: string): boolean {
    return this.sharded ? this.membership!.owns(nodeId) : this.isLeader;
  }

  onApplicationBootstrap(): void {
    if (!this.config.roles.has('detector')) return;
    this.enabled = true;
    this.pinger = pingerFor(this.config.PING_MODE);
    this.leader?.start(() => this.onLeadership());
    this.timer = setInterval(() => void this.tick(), this.config.DETECTOR_TICK_MS);
    this.timer.unref();
  }

  async onApplicationShutdown(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.scheduler.stop();
    await this.flushEvents();
  }

  /** Nodes this instance evaluates now (all watched ones; sharded, its owned and backup ones). */
  get evaluatedCount(): number {
    return this.evidence.size;
  }

  evidenceOf(nodeId: string): NodeEvidence | undefined {
    return this.evidence.get(nodeId);
  }

  async tick(now = Date.now()): Promise<void> {
    if (this.ticking) {
      // A tick that hangs holds up every failover decision: say so (once a second at most).
      if (now - this.tickStartedAt > SLOW_TICK_MS && now - this.slowTickWarnedAt > 1000) {
        this.slowTickWarnedAt = now;
        log.warn(
          { runningMs: now - this.tickStartedAt },
          'detector tick still running; decisions wait for it',
        );
      }
      return;
    }
    this.ticking = true;
    this.tickStartedAt = now;
    try {
      this.syncNetworkChecks();
      const watched = new Map<string, { node: TopologyNode; quorum: number; holdMs: number }>();
      for (const t of this.topology.allScenarios()) {
        if (!ACTIVE_STATES.has(t.entity.state)) continue;
        for (const id of t.nodeIds) {
          const node = this.topology.node(id);
          if (!node || (this.sharded && !this.membership!.watches(id))) continue;
          const prev = watched.get(id);
          watched.set(id, {
            node,
            quorum: Math.max(prev?.quorum ?? 0, t.entity.policy.peerQuorum),
            holdMs: Math.min(prev?.holdMs ?? Infinity, t.entity.policy.recoveryHoldMs),
          });
        }
      }
      for (const id of watched.keys()) if (!this.watchedSince.has(id)) this.watchedSince.set(id, now);
      for (const [, w] of watched) this.evaluate(w.node, w.quorum, w.holdMs, now);
      // A node no scenario (or no longer this instance) watches starts from `unknown` when watched again.
      for (const m of [
        this.evidence,
        this.dampers,
        this.watchedSince,
        this.downSince,
        this.noQuorumSince,
        this.remoteViews,
        this.fullEvaluation,
      ])
        for (const id of [...m.keys()]) if (!watched.has(id)) m.delete(id);
      if (this.wantRemote.size > 0) await this.fetchRemoteViews();
      // The leader (or, sharded, each owner for its nodes) records and acts; the others keep warm
      // verdicts for the API and a takeover.
      if (this.sharded ? this.membership!.canAct : this.isLeader) await this.act(now);
      if (now - this.prunedAt >= PRUNE_MS) this.pruneDecisionState(now);
      void this.flushEvents();
    } catch (err) {
      log.warn({ err: (err as Error).message }, 'detector tick failed');
    } finally {
      this.ticking = false;
    }
  }

  private prunedAt = 0;

  /** What was kept per scenario about decisions and retries, for scenarios that no longer exist. */
  private pruneDecisionState(now: number): void {
    this.prunedAt = now;
    const scenarioOf = (key: string) => this.topology.scenario(key.split('/')[0])?.entity;
    for (const m of [this.retry, this.decided])
      for (const key of [...m.keys()]) if (!scenarioOf(key)) m.delete(key);
    for (const key of [...this.alerted.keys()]) {
      // split/<scenario>/<epoch>: only the current epoch matters.
      const [, id, epoch] = key.split('/');
      if (this.topology.scenario(id)?.entity.epoch !== Number(epoch)) this.alerted.delete(key);
    }
  }

  /** Per tick: each node's heartbeat TTL and interval (the tightest of its scenarios' checks). */
  private ttls = new Map<string, { ttl: number; interval: number }>();
  /** when each node was last evaluated in full (the fast path reuses that evidence for a while) */
  private readonly fullEvaluation = new Map<string, { generation: number; at: number }>();
  /** nodes with a check other than the heartbeat in one of their scenarios (no fast path for them) */
  private otherChecks = new Set<string>();
  private ttlsGeneration = -1;

  private heartbeatTtl(nodeId: string): { ttl: number; interval: number } {
    if (this.ttlsGeneration !== this.topology.generation) {
      // One pass over every scenario when the topology changes, not one per node and question.
      const ttls = new Map<string, { ttl: number; interval: number }>();
      const other = new Set<string>();
      for (const t of this.topology.allScenarios()) {
        for (const c of t.entity.checks) {
          if (c.kind !== 'heartbeat') {
            for (const id of t.nodeIds) other.add(id);
            continue;
          }
          for (const id of t.nodeIds) {
            const prev = ttls.get(id) ?? { ttl: Infinity, interval: Infinity };
            ttls.set(id, {
              ttl: Math.min(prev.ttl, c.ttlMs ?? 3 * c.intervalMs),
              interval: Math.min(prev.interval, c.intervalMs),
            });
          }
        }
      }
      this.ttls = ttls;
      this.otherChecks = other;
      this.ttlsGeneration = this.topology.generation;
    }
    return this.ttls.get(nodeId) ?? { ttl: Infinity, interval: Infinity };
  }

  /**
   * A node's reported role per scenario, indexed once per full heartbeat (not searched per scenario);
   * keyed by the report's array, which UDP heartbeats carry over unchanged.
   */
  private readonly reportIndex = new WeakMap<object, Map<string, { role: string; epoch: number }>>();

  private reportedRole(
    report: { scenarios: { scenarioId: string; role: string; epoch: number }[] },
    id: string,
  ) {
    let index = this.reportIndex.get(report.scenarios);
    if (!index) {
      index = new Map(report.scenarios.map((r) => [r.scenarioId, r]));
      this.reportIndex.set(report.scenarios, index);
    }
    return index.get(id);
  }

  /** The tracker of one (node, scenario, check); rebuilt when the check's thresholds change. */
  private trackerFor(key: string, check: ScenarioCheck, scenarioId: string): CheckTracker {
    let entry = this.trackers.get(key);
    if (
      !entry ||
      entry.tracker.failureThreshold !== check.failureThreshold ||
      entry.tracker.recoveryThreshold !== check.recoveryThreshold
    ) {
      entry = {
        check,
        scenarioId,
        tracker: new CheckTracker(check.failureThreshold, check.recoveryThreshold),
      };
      this.trackers.set(key, entry);
      this.lastUserCheckAt.delete(key);
    }
    return entry.tracker;
  }

  private evaluate(node: TopologyNode, quorum: number, holdMs: number, now: number): void {
    // Heartbeats count from when this instance started watching the node (start-up, or a takeover
    // of a node it was not the backup of): before that it could not have had them.
    const watchStart = Math.max(this.store.startedAt, this.watchedSince.get(node.id) ?? 0);
    const stored = this.store.get(node.id);
    const live = stored && stored.lastSeenAt >= watchStart - DEFAULT_TTL_MS ? stored : undefined;
    const { ttl, interval } = this.heartbeatTtl(node.id);
    const hbAge = live ? now - live.lastSeenAt : null;
    let view: OrchestratorView = 'up';
    let hbState: CheckState = 'passing';
    if (ttl !== Infinity) {
      const age = hbAge ?? now - watchStart;
      if (age > ttl) hbState = 'failing';
      else if (age > 1.5 * interval + 250) hbState = 'pending';
      if (!live && now - watchStart <= ttl) view = 'unknown';
    }
    // Fast path, most nodes most of the time: healthy, heartbeats on time, nothing but heartbeat
    // checks. The verdict cannot change; only the ages in its evidence move (no new objects).
    const prev = this.evidence.get(node.id);
    const full = this.fullEvaluation.get(node.id);
    if (
      prev &&
      live &&
      full !== undefined &&
      full.generation === this.topology.generation &&
      now - full.at < FULL_EVALUATION_MS &&
      hbState === 'passing' &&
      prev.verdict === 'healthy' &&
      prev.view === 'up' &&
      prev.peerQuorum === quorum &&
      !this.otherChecks.has(node.id)
    ) {
      prev.heartbeatAgeMs = hbAge;
      for (const c of prev.checks) {
        c.lastAt = live.lastSeenAt;
        c.lastOutput = `last heartbeat ${hbAge} ms ago (ttl ${ttl} ms)`;
      }
      this.downSince.delete(node.id);
      return;
    }
    // The node's own reports count only while its heartbeats are on time.
    const heardRecently = !!live && now - live.lastSeenAt <= (ttl === Infinity ? DEFAULT_TTL_MS : ttl);
    const checks: CheckEvidence[] = [];
    const selfReportedFailures: string[] = [];
    for (const t of this.topology.scenariosOfNode(node.id)) {
      for (const c of t.entity.checks) {
        if (c.kind === 'heartbeat') {
          checks.push({
            scenarioId: t.entity.id,
            name: c.name,
            kind: c.kind,
            state: hbState,
            lastStatus: hbState === 'failing' ? 'critical' : hbState === 'passing' ? 'ok' : 'unknown',
            lastOutput:
              hbAge === null ? 'no heartbeat yet' : `last heartbeat ${hbAge} ms ago (ttl ${ttl} ms)`,
            consecutiveFailures: hbState === 'failing' ? 1 : 0,
            lastAt: live?.lastSeenAt ?? null,
          });
          continue;
        }
        const key = `${node.id}/${t.entity.id}/${c.name}`;
        const tr = this.trackerFor(key, c, t.entity.id);
        let output = tr.lastOutput;
        if (c.kind === 'user') {
          // Relayed user-defined checks: feed each new result (by its agent timestamp) once.
          const r = live?.report.checks.find((x) => x.name === c.agentCheck);
          if (r && heardRecently && this.lastUserCheckAt.get(key) !== r.at) {
            this.lastUserCheckAt.set(key, r.at);
            tr.record(r.status, now, r.output);
            output = tr.lastOutput;
          }
          if (live && !r) output = `the agent reports no check named ${c.agentCheck ?? '?'}`;
          if (tr.state === 'failing' && heardRecently) selfReportedFailures.push(c.name);
        }
        checks.push({
          scenarioId: t.entity.id,
          name: c.name,
          kind: c.kind,
          state: tr.state,
          lastStatus: tr.lastStatus,
          lastOutput: output,
          consecutiveFailures: tr.consecutiveFailures,
          lastAt: tr.lastAt,
        });
      }
    }
    if (view !== 'unknown') {
      if (checks.some((c) => c.state === 'failing')) view = 'down';
      else if (
        checks.some((c) => c.consecutiveFailures > 0 || (c.kind === 'heartbeat' && c.state === 'pending'))
      )
        view = 'suspect';
      else if (checks.length > 0 && checks.every((c) => c.lastStatus === null)) view = 'unknown';
    }
    const votes = this.votesFor(node.id, now);
    let raw = rawVerdict({ view, votes, peerQuorum: quorum, selfReportedFailures });
    if (this.sharded && view === 'down') {
      // Its observers' heartbeats may have gone to other instances: their views are read from Redis
      // (next tick), and the node is not declared failed on a vote taken without them.
      const since = this.downSince.get(node.id) ?? now;
      this.downSince.set(node.id, since);
      this.wantRemote.add(node.id);
      const fetchedAt = this.remoteViews.get(node.id)?.fetchedAt ?? -1;
      if (raw.verdict === 'failed' && selfReportedFailures.length === 0 && fetchedAt < since)
        raw = {
          ...raw,
          verdict: 'suspect',
          reason: 'orchestrator lost the node; reading the peer views other instances took',
        };
    } else this.downSince.delete(node.id);
    let damper = this.dampers.get(node.id);
    if (!damper) this.dampers.set(node.id, (damper = new VerdictDamper(holdMs)));
    damper.setHold(holdMs);
    const d = damper.update(raw.verdict, now);
    const recovering = d.verdict === 'failed' && raw.verdict !== 'failed';
    const ev: NodeEvidence = {
      nodeId: node.id,
      verdict: d.verdict,
      since: damper.since,
      view,
      reason: recovering ? `recovering (hold ${holdMs} ms)` : raw.reason,
      recovering,
      heartbeatAgeMs: hbAge,
      checks,
      observers: votes,
      peerQuorum: quorum,
      noQuorum: this.noQuorumLasted(node.id, view, raw, ttl, now),
    };
    this.evidence.set(node.id, ev);
    this.fullEvaluation.set(node.id, { generation: this.topology.generation, at: now });
    if (d.changed && this.actsFor(node.id)) this.recordChange(node, d.previous, ev);
  }

  /**
   * The orchestrator lost the node and its peers do not confirm it, for at least one heartbeat TTL.
   * A real failure passes through that state for a moment too (the orchestrator's TTL runs out
   * before the peers' views arrive): only a lasting one is a decision not to act. Not while the
   * other instances' views are still being read.
   */
  private noQuorumLasted(
    nodeId: string,
    view: OrchestratorView,
    raw: { verdict: Verdict; reason: string },
    ttl: number,
    now: number,
  ): boolean {
    if (view !== 'down' || raw.verdict !== 'suspect' || raw.reason.includes('reading the peer views')) {
      this.noQuorumSince.delete(nodeId);
      return false;
    }
    const since = this.noQuorumSince.get(nodeId) ?? now;
    this.noQuorumSince.set(nodeId, since);
    return now - since >= (ttl === Infinity ? DEFAULT_TTL_MS : ttl);
  }

  /**
   * Peer votes about a node: only agents of a scenario the node belongs to may vote (anyone else's
   * view of it is noise or an attack), and only observers that are alive themselves and reported
   * recently count as fresh.
   */
  private votesFor(nodeId: string, now: number): PeerVote[] {
    const peers = new Set<string>();
    for (const t of this.topology.scenariosOfNode(nodeId)) for (const id of t.nodeIds) peers.add(id);
    peers.delete(nodeId);
    const local = this.store.observationsOf(nodeId);
    const remote = (this.remoteViews.get(nodeId)?.views ?? []).filter(
      (r) => !local.some((l) => l.observerNodeId === r.observerNodeId && l.reportedAt >= r.reportedAt),
    );
    const remoteObservers = new Set(remote.map((r) => r.observerNodeId));
    // Firing external alerts about the node: one vote against it per sender (alerts/).
    const alertVotes: PeerVote[] = (this.alerts?.votesAgainst(nodeId, now) ?? []).map((v) => ({
      observer: `alert:${v.observer} (${v.alerts.join(', ')})`,
      reachable: false,
      seenMsAgo: null,
      fresh: true,
    }));
    const peerVotes = [...local.filter((l) => !remoteObservers.has(l.observerNodeId)), ...remote]
      .filter((o) => peers.has(o.observerNodeId))
      .map((o) => {
        const observer = this.store.get(o.observerNodeId);
        const ttl = this.heartbeatTtl(o.observerNodeId).ttl;
        const obsTtl = ttl === Infinity ? DEFAULT_TTL_MS : ttl;
        // An observer whose heartbeats go to another instance was alive when that one took its view.
        const alive = remoteObservers.has(o.observerNodeId)
          ? now - o.reportedAt <= obsTtl
          : !!observer && now - observer.lastSeenAt <= obsTtl;
        return {
          observer: this.topology.node(o.observerNodeId)?.name ?? o.observerNodeId,
          reachable: o.reachable,
          seenMsAgo: o.seenAt === null ? null : now - o.seenAt,
          fresh: alive && now - o.reportedAt <= 2 * obsTtl,
        };
      });
    return alertVotes.length > 0 ? [...peerVotes, ...alertVotes] : peerVotes;
  }

  /** Without a LeaderElection (unit tests, single process) this instance is the leader. */
  get isLeader(): boolean {
    return this.leader ? this.leader.isLeader : true;
  }

  /** Peer views of nodes whose heartbeats are lost, as the other instances took them. */
  private async fetchRemoteViews(): Promise<void> {
    const ids = [...this.wantRemote].slice(0, MAX_REMOTE_READS);
    for (const id of ids) this.wantRemote.delete(id);
    if (!this.redis) return;
    try {
      const fetchedAt = Date.now();
      for (const [id, views] of await readPeerViews(this.redis, ids))
        this.remoteViews.set(id, { fetchedAt, views });
    } catch (err) {
      // Without them no node is declared failed (fail static): suspect until Redis answers.
      log.debug({ err: (err as Error).message }, 'remote peer views not readable');
    }
  }

  /** A new leader first writes the verdicts it holds, so node_status is current. */
  private onLeadership(): void {
    for (const ev of this.evidence.values()) {
      if (!this.actsFor(ev.nodeId)) continue;
      this.enqueue({ status: { nodeId: ev.nodeId, verdict: ev.verdict, evidence: JSON.stringify(ev) } });
    }
  }

  private recordChange(node: TopologyNode, previous: Verdict, ev: NodeEvidence): void {
    this.metrics.verdictChanges.inc({ verdict: ev.verdict });
    const level = ev.verdict === 'failed' ? 'warn' : 'info';
    log[level]({ node: node.name, from: previous, to: ev.verdict, reason: ev.reason }, 'verdict changed');
    this.enqueue({
      event: {
        kind: 'verdict-changed',
        severity: ev.verdict === 'failed' ? 'critical' : ev.verdict === 'suspect' ? 'warning' : 'info',
        nodeId: node.id,
        scenarioId: null,
        message: `${node.name}: ${previous} → ${ev.verdict} (${ev.reason})`,
        details: { from: previous, to: ev.verdict, evidence: ev } as never,
      },
      status: { nodeId: node.id, verdict: ev.verdict, evidence: JSON.stringify(ev) },
    });
  }

  /**
   * Failed active node of a running scenario → failover (auto) or alert (manual); every decision,
   * and every decision not to act, is recorded once per change (decision.ts has the rules).
   */
  private async act(now: number): Promise<void> {
    const candidates: Candidate[] = [];
    const failbacks: Failback[] = [];
    for (const t of this.topology.allScenarios()) {
      const s = t.entity;
      this.detectSplitState(t.nodeIds, s);
      if (s.policy.failback?.mode === 'automatic') {
        const fb = this.failbackDecision(s, now);
        if (fb) failbacks.push(fb);
      }
      if (!this.actsFor(s.activeNodeId)) continue;
      const ev = this.alertFailover(s, this.evidence.get(s.activeNodeId), now);
      const node = this.topology.node(s.activeNodeId)?.name ?? s.activeNodeId;
      const failed = ev?.verdict === 'failed' && ev.recovering !== true;
      const window = failed ? this.maintenance?.suppressing(s.id, s.activeNodeId, now) : undefined;
      const d =
        ev &&
        decide({
          scenario: s,
          node,
          verdict: ev.verdict,
          recovering: ev.recovering === true,
          noQuorum: ev.noQuorum === true,
          reason: ev.reason,
          maintenance: window ?? null,
          cannotFence: failed && this.cannotFence(s, now),
          now,
        });
      if (!d) {
        this.decided.delete(s.id);
        // The incident is over once the active node is healthy again (a new one starts afresh).
        if (ev?.verdict === 'healthy') this.retry.delete(s.id);
        continue;
      }
      if (d.outcome !== 'failover') {
        this.recordDecision(s, ev, d, {
          key: window ? `:${window.id}` : '',
          details: window ? { maintenanceWindowId: window.id } : {},
        });
        continue;
      }
      if (!this.mayRequest(s.id, now)) continue;
      candidates.push({ s, node, ev, d, decisionId: randomUUID() });
    }
    if (candidates.length > 0) await this.failOver(candidates, now);
    for (const fb of failbacks) await this.failBack(fb, now);
  }

  /**
   * policy.alerts.failover: a firing alert the policy names, about the active node, fails the
   * scenario over on its own — the node's evidence as this scenario sees it: failed, for the alert.
   * Like a self-reported check, only while the orchestrator itself reaches the node (heartbeats on
   * time; another check of its own may fail, the service being down): once it is losing the node,
   * the vote decides (the alert is one vote there), and the node must have been heard after the
   * alert arrived, so an
   * alerting system on the orchestrator's side of a partition never outvotes a replica that still
   * sees production. Not while the node is recovering or without evidence yet. The incident starts
   * when the node's earliest firing alert did, the same for every scenario of the node.
   */
  private alertFailover(
    s: ScenarioEntity,
    ev: NodeEvidence | undefined,
    now: number,
  ): NodeEvidence | undefined {
    const p = s.policy.alerts;
    if (!ev || !p?.failover || !this.alerts) return ev;
    if (ev.verdict === 'failed' || ev.verdict === 'unknown' || ev.recovering === true || ev.noQuorum === true)
      return ev;
    // The orchestrator reaches the node: its heartbeats are on time (not even late), or, without a
    // heartbeat check, every check passes.
    const hb = ev.checks.filter((c) => c.kind === 'heartbeat');
    if (hb.length > 0 ? !hb.every((c) => c.state === 'passing') : ev.view !== 'up') return ev;
    const a = this.alerts.failoverAlert(s.id, s.activeNodeId, p.names, now);
    // …and heard from it after the alert arrived: an alert that came as the node went silent (a
    // partition that also cut the monitoring off) waits for the vote instead.
    if (!a || (this.store.get(s.activeNodeId)?.lastSeenAt ?? 0) <= a.receivedAt) return ev;
    return {
      ...ev,
      verdict: 'failed',
      since: this.alerts.firingSince(s.activeNodeId, now) ?? a.startsAt,
      recovering: false,
      noQuorum: false,
      reason: `alert ${a.name} from ${a.observer} firing (policy.alerts.failover)`,
    };
  }

  /**
   * policy.failback automatic: decided by the instance acting for the original production (it has
   * that node's evidence). Withheld decisions are recorded once per change; a failback is returned.
   */
  private failbackDecision(s: ScenarioEntity, now: number): Failback | null {
    const slot = FAILBACK_SLOT;
    if (
      s.state !== 'failed_over' ||
      s.activeNodeId === s.productionNodeId ||
      !this.actsFor(s.productionNodeId)
    ) {
      this.decided.delete(s.id + slot);
      return null;
    }
    const ev = this.evidence.get(s.productionNodeId);
    // A failback demotes the active node cleanly: not while it is in trouble (that is the failover
    // rules' business). Unknown here (another instance watches it): its pre-checks will tell.
    const active = this.evidence.get(s.activeNodeId);
    if (active && active.verdict !== 'healthy') return null;
    const window = openFailbackWindow(s.policy.failback, now);
    const w = window ? this.maintenance?.suppressing(s.id, s.productionNodeId, now) : undefined;
    const d =
      ev &&
      decideFailback({
        scenario: s,
        production: {
          name: this.topology.node(s.productionNodeId)?.name ?? s.productionNodeId,
          verdict: ev.verdict,
          lagSeconds: this.store.get(s.productionNodeId)?.report.replicaLagSeconds ?? null,
        },
        maxLagSeconds: s.policy.failback?.maxLagSeconds ?? 0,
        window,
        maintenance: w ?? null,
        now,
      });
    if (!d) {
      this.decided.delete(s.id + slot);
      return null;
    }
    if (d.outcome === 'failback')
      return this.mayRequest(s.id + slot, now) ? { s, ev, d, openedAt: window!.openedAt } : null;
    this.recordDecision(s, ev, d, {
      key: w ? `:${w.id}` : '',
      nodeId: s.productionNodeId,
      slot: FAILBACK_SLOT,
    });
    return null;
  }

  /**
   * Request an automatic failback: like failovers, one decision at a time across instances (the act
   * lock), and never while the storm brake is engaged (it stops every automatic move of users).
   */
  private async failBack(fb: Failback, now: number): Promise<void> {
    const { s, ev, d } = fb;
    const slot = FAILBACK_SLOT;
    this.holdRequests(s.id + slot, now, RETRY_MS);
    await this.withActLock(async () => {
      const braked = await this.stormBrake.isEngaged().catch(() => true);
      if (braked) {
        this.recordDecision(
          s,
          ev,
          {
            outcome: 'suppressed',
            rule: 'storm-brake',
            eventKind: 'failback-withheld',
            severity: 'warning',
            message: `automatic failback of ${s.name} withheld: the storm brake is engaged (or unreadable)`,
          },
          { nodeId: s.productionNodeId, slot },
        );
        return;
      }
      const decisionId = randomUUID();
      try {
        const op = await this.operations.request({
          scenarioId: s.id,
          type: 'failback',
          trigger: 'auto',
          requestedBy: 'detector',
          reason: d.message,
          params: { decisionId },
        });
        // One incident per window and active node: retries back off whatever the epoch does.
        this.started(s.id + slot, `${s.activeNodeId}/${fb.openedAt}`, now);
        log.warn({ scenario: s.name, operationId: op.id }, 'automatic failback requested');
        this.recordDecision(s, ev, d, {
          key: `:${op.id}`,
          id: decisionId,
          operationId: op.id,
          nodeId: s.productionNodeId,
          slot,
        });
      } catch (err) {
        if (err instanceof OperationInProgressError) return;
        log.warn({ scenario: s.name, err: (err as Error).message }, 'automatic failback not started');
      }
    });
  }

  /**
   * Automatic failover of every scenario whose active node failed, decided together: one storm
   * brake check per failed node (a host carrying many scenarios is one incident), the groups read
   * in one query, the operations created in bulk (OperationsService.requestMany).
   */
  private failOver(candidates: Candidate[], now: number): Promise<void> {
    return this.withActLock(() => this.failOverLocked(candidates, now));
  }

  /**
   * Sharded, several instances decide failovers at once: one at a time (a PostgreSQL advisory lock
   * for the schema), so the storm brake counts every other instance's new incidents.
   */
  private async withActLock(fn: () => Promise<void>): Promise<void> {
    if (!this.sharded) return fn();
    const runner = this.dataSource.createQueryRunner();
    const key = `${this.config.DATABASE_SCHEMA}:${ACT_LOCK_NAME}`;
    // A transaction-scoped lock: whatever happens to this connection, the lock ends with it.
    try {
      await runner.connect();
      await runner.startTransaction();
      // Bounded: an instance stuck holding the lock (a connection lost mid-decision) must not
      // stall every other instance's decisions; this tick is skipped, the next one tries again.
      await runner.query(`SET LOCAL lock_timeout = '${ACT_LOCK_TIMEOUT_MS}ms'`);
      await runner.query('SELECT pg_advisory_xact_lock(hashtext($1))', [key]);
    } catch (err) {
      await runner.release().catch(() => undefined);
      log.warn(
        { err: (err as Error).message },
        'failover decision lock not taken: no automatic failover this tick',
      );
      return;
    }
    try {
      await fn();
    } finally {
      await runner.rollbackTransaction().catch(() => undefined);
      await runner.release().catch(() => undefined);
    }
  }

  private async failOverLocked(candidates: Candidate[], now: number): Promise<void> {
    for (const c of candidates) this.holdRequests(c.s.id, now, RETRY_MS);
    const t0 = Date.now();
    // Read before the brake: a switch-all group action is checked whole (see brakeCandidates).
    const groupsOf = await this.switchAllGroupsOf(candidates.map((c) => c.s.id));
    const tGroups = Date.now();
    const brake = this.brakeCandidates(candidates, groupsOf, now);
    let allowed: Set<string>;
    try {
      allowed = await this.stormBrake.allowIncidents(brake.candidates);
    } catch (err) {
      log.warn({ err: (err as Error).message }, 'storm brake not readable: no automatic failover this tick');
      return;
    }
    const go: Candidate[] = [];
    const refusedUnits = new Set<string>();
    for (const c of candidates) {
      if (allowed.has(c.s.id)) {
        go.push(c);
        continue;
      }
      const unit = brake.unitOf.get(c.s.id);
      if (!unit) this.recordDecision(c.s, c.ev, brakeDecision(c.s.name, c.node));
      else if (!refusedUnits.has(unit)) {
        // One decision for the group action, on its first failed member (in its first group's order).
        refusedUnits.add(unit);
        const failed = candidates.filter((x) => brake.unitOf.get(x.s.id) === unit);
        const groups = [
          ...new Map(failed.flatMap((x) => groupsOf.get(x.s.id) ?? []).map((g) => [g.id, g])).values(),
        ];
        const first =
          groups[0].scenarioIds.map((id) => failed.find((x) => x.s.id === id)).find((x) => !!x) ?? c;
        this.recordDecision(
          first.s,
          first.ev,
          groupBrakeDecision(
            groups.map((g) => g.name).join(', '),
            failed.map((x) => x.node),
          ),
          {
            key: `:${unit}`,
            details: { groupIds: groups.map((g) => g.id), failedScenarioIds: failed.map((x) => x.s.id) },
          },
        );
      }
    }
    if (go.length === 0) return;
    const tBrake = Date.now();
    // One batch per failed node: a node whose fencing waits out its lease never holds up the
    // scenarios of another node that failed in the same tick.
    const byNode = new Map<string, Candidate[]>();
    for (const c of go) pushTo(byNode, c.s.activeNodeId, c);
    go.length = 0;
    const results: OperationResult[] = [];
    for (const group of byNode.values()) {
      go.push(...group);
      results.push(
        ...(await this.operations.requestMany(
          group.map((c) => {
            const groups = groupsOf.get(c.s.id) ?? [];
            return {
              scenarioId: c.s.id,
              groupId: groups[0]?.id ?? null,
              type: 'failover' as const,
              trigger: 'auto' as const,
              requestedBy: 'detector',
              reason: `${c.node} failed: ${c.ev.reason}`,
              params: {
                force: true,
                detectedAt: c.ev.since,
                failedNodeId: c.s.activeNodeId,
                decisionId: c.decisionId,
              },
            };
          }),
          { batch: true },
        )),
      );
    }
    let requested = 0;
    for (const [i, c] of go.entries()) {
      const { s, node } = c;
      const r = results[i];
      if ('error' in r) {
        const err = r.error;
        if (err instanceof ArTestAbortingError) {
          // Retry soon rather than after the usual 5 s: the test only needs rewind + resume.
          this.holdRequests(s.id, now, AR_ABORT_RETRY_MS);
          this.recordDecision(
            s,
            c.ev,
            {
              outcome: 'delayed',
              rule: 'ar-abort',
              eventKind: 'failover-delayed',
              severity: 'critical',
              message: `${node} failed during an AR test of ${s.name}: test aborted, failover follows once the replica is resumed`,
            },
            { details: { arOperationId: err.operationId } },
          );
          continue;
        }
        if (err instanceof OperationInProgressError) continue;
        const msg = err instanceof DomainError ? err.message : err.message;
        log.warn({ scenario: s.name, err: msg }, 'automatic failover not started');
        continue;
      }
      const op = r.operation;
      const groups = groupsOf.get(s.id) ?? [];
      // The incident: its node and when it failed. Not the epoch: a failover that failed after
      // lock-epoch bumped it is the same incident, and its retries back off.
      this.started(s.id, `${s.activeNodeId}/${c.ev.since}`, now);
      requested++;
      if (go.length <= 20)
        log.warn({ scenario: s.name, operationId: op.id, node }, 'automatic failover requested');
      this.recordDecision(s, c.ev, c.d, {
        key: `:${op.id}`,
        details: groups.length ? { groupId: groups[0].id } : {},
        id: c.decisionId,
        operationId: op.id,
      });
      // The storm brake was checked once above for the whole group action: a group never stops half moved.
      for (const g of groups) await this.switchGroup(g, s, node, now, c.ev, brake.stormKeys);
    }
    if (go.length > 20) {
      log.warn(
        {
          requested,
          candidates: go.length,
          nodes: [...new Set(go.map((c) => c.node))],
          ms: { groups: tGroups - t0, stormBrake: tBrake - tGroups, request: Date.now() - tBrake },
        },
        'automatic failovers requested',
      );
    }
  }

  /**
   * What the storm brake is asked about: each failed scenario's incident (its failed node and when
   * the failure began). A scenario in a switch-all group brings the whole group action as one unit:
   * its failed members' incidents plus one per production node of a healthy mate the action would
   * move users off. The unit is granted whole or refused whole, before any member starts, so a
   * group action never overshoots the budget and never stops half moved.
   */
  private brakeCandidates(
    candidates: Candidate[],
    groupsOf: Map<string, GroupView[]>,
    now: number,
  ): {
    candidates: { key: string; scenarioId: string; unit?: string }[];
    /** the unit of each failed scenario in a switch-all group (groups linked by a shared member are one) */
    unitOf: Map<string, string>;
    /** the key each mate's failover is charged to (its stormKey) */
    stormKeys: Map<string, string>;
  } {
    // Groups linked through a failed scenario in several of them move together: one unit.
    const parent = new Map<string, string>();
    const find = (g: string): string => {
      let r = g;
      while (parent.get(r) !== r) r = parent.get(r)!;
      parent.set(g, r);
      return r;
    };
    for (const c of candidates) {
      const ids = (groupsOf.get(c.s.id) ?? []).map((g) => g.id);
      for (const id of ids) if (!parent.has(id)) parent.set(id, id);
      for (const id of ids.slice(1)) parent.set(find(id), find(ids[0]));
    }
    const unitOf = new Map<string, string>();
    const stormKeys = new Map<string, string>();
    const out: { key: string; scenarioId: string; unit?: string }[] = [];
    const failedIds = new Set(candidates.map((c) => c.s.id));
    const counted = new Set<string>();
    for (const c of candidates) {
      const key = incidentKey(c.s.activeNodeId, c.ev.since);
      const groups = groupsOf.get(c.s.id) ?? [];
      if (!groups.length) {
        out.push({ key, scenarioId: c.s.id });
        continue;
      }
      const unit = `group:${find(groups[0].id)}`;
      unitOf.set(c.s.id, unit);
      out.push({ key, scenarioId: c.s.id, unit });
      for (const g of groups) {
        if (counted.has(g.id)) continue;
        counted.add(g.id);
        for (const id of g.scenarioIds) {
          const mate = this.topology.scenario(id)?.entity;
          if (!mate || failedIds.has(id) || stormKeys.has(id) || !GROUP_SWITCH_STATES.has(mate.state))
            continue;
          // A mate switchGroup will not move (maintenance, manual mode the group leaves alone,
          // hold-down, a request on its way) costs nothing.
          if (this.maintenance?.suppressing(mate.id, mate.activeNodeId, now)) continue;
          if (mate.failoverMode === 'manual' && g.switchManualMembers === false) continue;
          if ((mate.holdUntil && mate.holdUntil.getTime() > now) || !this.mayRequest(id, now)) continue;
          const mateKey = incidentKey(mate.activeNodeId, c.ev.since);
          stormKeys.set(id, mateKey);
          out.push({ key: mateKey, scenarioId: id, unit });
        }
      }
    }
    return { candidates: out, unitOf, stormKeys };
  }

  private mayRequest(scenarioId: string, now: number): boolean {
    return (this.retry.get(scenarioId)?.nextAt ?? 0) <= now;
  }

  /** No new request for this scenario for `ms` (a request is on its way, or just failed to start). */
  private holdRequests(scenarioId: string, now: number, ms: number): void {
    const r = this.retry.get(scenarioId);
    this.retry.set(scenarioId, { incident: r?.incident ?? '', started: r?.started ?? 0, nextAt: now + ms });
  }

  /** An operation was started for this incident: the next one waits 5 s, 10 s, 20 s … up to 2 min. */
  private started(scenarioId: string, incident: string, now: number): void {
    const r = this.retry.get(scenarioId);
    const started = r?.incident === incident ? r.started + 1 : 1;
    this.retry.set(scenarioId, {
      incident,
      started,
      nextAt: now + Math.min(RETRY_MS * 2 ** (started - 1), RETRY_MAX_MS),
    });
  }

  /**
   * The failover's fence step would stop at once (FencingBlockedError): the active node's agent is
   * silent, so its demote cannot run, no hook can fence it, and its last heartbeat said its watchdog
   * is not armed. Requesting the failover anyway would only repeat a failed operation every 5 s.
   */
  private cannotFence(s: ScenarioEntity, now: number): boolean {
    if (s.policy.requireWatchdog === false || s.policy.fencingHook) return false;
    const live = this.store.get(s.activeNodeId);
    const silent = !live || now - live.lastSeenAt > AGENT_SILENT_MS;
    return silent && live?.report.watchdog?.armed !== true;
  }

  private async switchAllGroupsOf(ids: string[]): Promise<Map<string, GroupView[]>> {
    if (!this.groups) return new Map();
    return this.groups.switchAllGroupsOfMany(ids).catch((err: Error) => {
      log.warn({ scenarios: ids.length, err: err.message }, 'could not read the groups of failed scenarios');
      return new Map<string, GroupView[]>();
    });
  }

  /**
   * switch-all-if-any-fails: fail over every other member of the group that is running or degraded
   * (each still subject to its own hold-down and to the one-operation-per-scenario rule).
   */
  private async switchGroup(
    group: GroupView,
    failed: ScenarioEntity,
    failedNode: string,
    now: number,
    ev: NodeEvidence,
    stormKeys: Map<string, string> = new Map(),
  ) {
    const detectedAt = ev.since;
    for (const id of group.scenarioIds) {
      const mate = this.topology.scenario(id)?.entity;
      if (id === failed.id || !mate || !GROUP_SWITCH_STATES.has(mate.state)) continue;
      if (!this.mayRequest(id, now)) continue;
      const because = `${failed.name} (group ${group.name}) failed: ${failedNode}`;
      const window = this.maintenance?.suppressing(mate.id, mate.activeNodeId, now);
      const about = { groupId: group.id, failedScenarioId: failed.id };
      const suppressed = (rule: 'maintenance' | 'hold-down', message: string, extra = '') =>
        this.recordDecision(
          mate,
          ev,
          { outcome: 'suppressed', rule, eventKind: 'failover-suppressed', severity: 'warning', message },
          {
            key: `:${failed.id}${extra}`,
            details: { ...about, ...(window && { maintenanceWindowId: window.id }) },
          },
        );
      if (window) {
        suppressed(
          'maintenance',
          `${because}, but ${mate.name} is in maintenance (window ${window.id}) until ${window.endsAt.toISOString()}: not switched`,
          `:${window.id}`,
        );
        continue;
      }
      if (mate.failoverMode === 'manual' && group.switchManualMembers === false) {
        this.recordDecision(
          mate,
          ev,
          {
            outcome: 'suppressed',
            rule: 'manual-mode',
            eventKind: 'failover-suppressed',
            severity: 'warning',
            message: `${because}, but ${mate.name} is in manual mode and group ${group.name} does not switch manual members: not switched`,
          },
          { key: `:${failed.id}`, details: about },
        );
        continue;
      }
      if (mate.holdUntil && mate.holdUntil.getTime() > now) {
        suppressed(
          'hold-down',
          `${because}, but ${mate.name} is in its hold-down period until ${mate.holdUntil.toISOString()}: not switched`,
        );
        continue;
      }
      const decisionId = randomUUID();
      this.holdRequests(id, now, RETRY_MS);
      try {
        const op = await this.operations.request({
          scenarioId: id,
          groupId: group.id,
          type: 'failover',
          trigger: 'auto',
          requestedBy: 'detector',
          reason: `switch all if any fails: group ${group.name} member ${failed.name} failed (${failedNode})`,
          // Counted by the brake as moving users off this mate's own production node (stormKey):
          // the group action was granted for every node it moves (brakeCandidates).
          params: {
            force: true,
            switchAllOf: failed.id,
            failedNodeId: failed.activeNodeId,
            detectedAt,
            stormKey: stormKeys.get(id) ?? incidentKey(mate.activeNodeId, detectedAt),
            decisionId,
          },
          onlyFrom: [...GROUP_SWITCH_STATES],
        });
        log.warn(
          { scenario: mate.name, group: group.name, failed: failed.name, operationId: op.id },
          'automatic group failover requested',
        );
        this.recordDecision(
          mate,
          ev,
          {
            outcome: 'failover',
            rule: 'switch-all',
            eventKind: 'failover-requested',
            severity: 'critical',
            message: `automatic failover of ${mate.name} requested: ${because} and the group switches all members`,
          },
          { key: `:${op.id}`, details: about, id: decisionId, operationId: op.id },
        );
      } catch (err) {
        if (err instanceof OperationInProgressError) continue;
        const msg = err instanceof DomainError ? err.message : (err as Error).message;
        log.warn(
          { scenario: mate.name, group: group.name, err: msg },
          'automatic group failover not started',
        );
      }
    }
  }

  /**
   * Split state: a node other than the active one says (in its heartbeats) that it is production
   * in this scenario. Never two actives is the first rule, so this is a critical alert; the fix is an
   * active-server recovery (keep one, fence the others). Not checked while an operation moves roles.
   */
  private detectSplitState(
    nodeIds: string[],
    s: { id: string; name: string; state: string; epoch: number; activeNodeId: string },
  ): void {
    if (!['running', 'degraded', 'failed_over'].includes(s.state)) return;
    for (const id of nodeIds) {
      if (id === s.activeNodeId || !this.actsFor(id)) continue;
      const live = this.store.get(id);
      const ttl = this.heartbeatTtl(id).ttl;
      if (!live || Date.now() - live.lastSeenAt > (ttl === Infinity ? 3000 : ttl)) continue;
      const report = this.reportedRole(live.report, s.id);
      const staleKey = `${s.id}/${id}`;
      if (report?.role !== 'production') {
        this.staleProductionSince.delete(staleKey);
        continue;
      }
      // An old production coming back reports `production` at an older epoch until its first
      // heartbeat answer makes it demote itself (and every agent and DNS write refuses its epoch).
      // That is a split only if it lasts; at the current epoch or above it is one at once.
      if (report.epoch < s.epoch) {
        const since = this.staleProductionSince.get(staleKey) ?? Date.now();
        this.staleProductionSince.set(staleKey, since);
        if (Date.now() - since < STALE_PRODUCTION_GRACE_MS) continue;
      }
      const name = this.topology.node(id)?.name ?? id;
      const active = this.topology.node(s.activeNodeId)?.name ?? s.activeNodeId;
      const once = `split/${s.id}/${s.epoch}`;
      if (this.alerted.get(once)?.has(id)) continue;
      this.alerted.set(once, (this.alerted.get(once) ?? new Set()).add(id));
      const scenario = this.topology.scenario(s.id)?.entity;
      if (!scenario) continue;
      this.recordDecision(
        scenario,
        this.evidence.get(id),
        {
          outcome: 'alert',
          rule: 'split-state',
          eventKind: 'split-state',
          severity: 'critical',
          message:
            `split state in ${s.name}: ${name} acts as production (epoch ${report.epoch}) while ${active} is active; ` +
            'run an active-server recovery to keep one and fence the others',
        },
        {
          key: `:${id}`,
          details: { node: name, reportedEpoch: report.epoch, scenarioEpoch: s.epoch },
          nodeId: id,
          unique: true,
        },
      );
    }
  }

  /**
   * One decision about a scenario: recorded (decisions table), announced (event, webhook) and
   * logged once per change of what it is about (epoch, active node, the evidence's incident, rule),
   * not once per tick. A failover is always new (its operation is in the key).
   */
  private recordDecision(
    s: ScenarioEntity,
    ev: NodeEvidence | undefined,
    d: Decision,
    o: DecisionOptions = {},
  ): void {
    const nodeId = o.nodeId ?? s.activeNodeId;
    const about = `${s.epoch}/${nodeId}/${ev?.nodeId ?? '-'}/${ev?.since ?? 0}/${d.rule}${o.key ?? ''}`;
    // Split-state records are about another node than the active one: they never replace the
    // scenario's own latest decision, they are deduplicated by the caller. Failback decisions have
    // a slot of their own (they are taken beside the failover ones).
    if (!o.unique) {
      const slot = s.id + (o.slot ?? '');
      if (this.decided.get(slot) === about) return;
      this.decided.set(slot, about);
    }
    const id = o.id ?? randomUUID();
    const operationId = o.operationId ?? null;
    // The evidence of this scenario only: a node's evidence lists the checks of every scenario on
    // it, which would make a host with N scenarios write N² check entries.
    const evidence = ev ? { ...ev, checks: ev.checks.filter((c) => c.scenarioId === s.id) } : {};
    const decision = { id, outcome: d.outcome, rule: d.rule };
    this.event(
      d.eventKind,
      d.severity,
      s.id,
      nodeId,
      d.message,
      { ...o.details, ...(operationId && { operationId }), decision },
      {
        id,
        scenarioId: s.id,
        nodeId,
        epoch: s.epoch,
        outcome: d.outcome,
        rule: d.rule,
        message: d.message,
        evidence,
        thresholds: this.thresholdsOf(s),
        operationId,
        dedupKey: `${s.id}/${about}`,
      },
    );
  }

  /** What the rules compared against, as they stood when deciding. */
  private thresholdsOf(s: ScenarioEntity): Record<string, unknown> {
    return {
      peerQuorum: s.policy.peerQuorum,
      recoveryHoldMs: s.policy.recoveryHoldMs,
      holdDownMs: s.policy.holdDownMs,
      holdUntil: s.holdUntil,
      failoverMode: s.failoverMode,
      maxLagSeconds: s.policy.maxLagSeconds ?? null,
      checks: s.checks.map((c) => ({
        name: c.name,
        kind: c.kind,
        intervalMs: c.intervalMs,
        ...(c.kind === 'heartbeat'
          ? { ttlMs: c.ttlMs ?? 3 * c.intervalMs }
          : { failureThreshold: c.failureThreshold, recoveryThreshold: c.recoveryThreshold }),
      })),
      stormBrake: { maxFailovers: this.config.STORM_MAX_FAILOVERS, windowMs: this.config.STORM_WINDOW_MS },
    };
  }

  /** Which orchestrator instance decides (the decisions' `decidedBy`). */
  private readonly instance = `${hostname()}:${process.pid}`;

  private event(
    kind: string,
    severity: 'info' | 'warning' | 'critical',
    scenarioId: string,
    nodeId: string,
    message: string,
    details: unknown,
    /** the decision record the event announces: written in the same transaction */
    decision?: QueuedDecision,
  ): void {
    this.enqueue({
      decision,
      event: { kind, severity, scenarioId, nodeId, message, details: details as never },
    });
    // Webhooks for the NOC: best effort here (the event row is the durable record).
    const d = (details as { decision?: { id: string } } | undefined)?.decision;
    const operationId = (details as { operationId?: string } | undefined)?.operationId ?? null;
    this.notifications
      ?.publish(`${kind}.${scenarioId}.${d?.id ?? Date.now()}`, {
        kind,
        severity,
        scenarioId,
        nodeId,
        message,
        ...(operationId && { operationId }),
        ...(d && { details: { decision: { ...d, url: `/api/v1/decisions/${d.id}` } } }),
      })
      .catch((err: Error) => log.warn({ err: err.message }, 'webhook not queued'));
  }

  private enqueue(e: PendingEvent): void {
    this.pending.push(e);
    if (this.pending.length > MAX_PENDING_EVENTS) {
      const dropped = this.pending.splice(0, this.pending.length - MAX_PENDING_EVENTS);
      log.error({ dropped: dropped.length }, 'event queue full: oldest events dropped');
    }
    void this.flushEvents();
  }

  /** Writes queued events in order, one transaction each; stops at the first failure and retries next tick. */
  flushEvents(): Promise<void> {
    // .finally runs after the assignment even when there is nothing to write (single flight).
    this.flushing ??= this.writePending().finally(() => {
      this.flushing = null;
    });
    return this.flushing;
  }

  private async writePending(): Promise<void> {
    while (this.pending.length > 0) {
      const e = this.pending[0];
      try {
        await this.dataSource.transaction(async (m) => {
          if (e.decision)
            await insertDecision(m, { ...e.decision, decidedBy: this.membership?.id ?? this.instance });
          if (e.event)
            await m.getRepository(EventEntity).insert({ ...e.event, details: e.event.details as never });
          if (e.status) {
            await m.query(
              `INSERT INTO node_status ("nodeId", verdict, evidence, "updatedAt") VALUES ($1, $2, $3::jsonb, now())
               ON CONFLICT ("nodeId") DO UPDATE SET verdict = EXCLUDED.verdict, evidence = EXCLUDED.evidence, "updatedAt" = now()`,
              [e.status.nodeId, e.status.verdict, e.status.evidence],
            );
          }
        });
      } catch (err) {
        if (!isDataError(err)) {
          // Once per outage, not once per tick.
          if (!this.persistFailing) {
            log.warn(
              { err: (err as Error).message, pending: this.pending.length },
              'could not persist events; will retry',
            );
          }
          this.persistFailing = true;
          return;
        }
        // Refused for its content: retrying would hold back every later event forever.
        log.error(
          { err: (err as Error).message, kind: e.event?.kind, nodeId: e.event?.nodeId ?? e.status?.nodeId },
          'event refused; skipped',
        );
      }
      this.pending.shift();
      if (this.persistFailing) log.info({ pending: this.pending.length }, 'persisting events again');
      this.persistFailing = false;
    }
  }

  /** Keep one scheduler job per (node, network check) of active scenarios; drop trackers nobody needs. */
  private syncNetworkChecks(): void {
    const wanted = new Set<string>();
    const trackersWanted = new Set<string>();
    for (const t of this.topology.allScenarios()) {
      if (!ACTIVE_STATES.has(t.entity.state)) continue;
      for (const c of t.entity.checks) {
        if (c.kind === 'heartbeat') continue;
        for (const id of t.nodeIds) {
          const node = this.topology.node(id);
          if (!node) continue;
          const key = `${id}/${t.entity.id}/${c.name}`;
          trackersWanted.add(key);
          if (!NETWORK_KINDS.has(c.kind)) continue;
          wanted.add(key);
          this.scheduler.upsert({
            key,
            intervalMs: c.intervalMs,
            run: async () => {
              const r = await runProbe(c, node, { pinger: this.pinger });
              this.metrics.checksRun.inc({ kind: c.kind, status: r.status });
              // The check may have been removed or changed while it ran.
              if (!this.scheduler.has(key)) return;
              this.trackerFor(key, c, t.entity.id).record(r.status, Date.now(), r.output);
            },
          });
        }
      }
    }
    for (const key of this.scheduler.keys()) if (!wanted.has(key)) this.scheduler.remove(key);
    for (const key of [...this.trackers.keys()]) {
      if (!trackersWanted.has(key)) {
        this.trackers.delete(key);
        this.lastUserCheckAt.delete(key);
      }
    }
  }
}

/**
 * SQLSTATE class 22 (data exception: out of range, bad encoding, invalid JSON…) or a foreign key
 * violation (the scenario of a decision was deleted meanwhile): retrying never helps.
 */
function isDataError(err: unknown): boolean {
  const e = err as { code?: unknown; driverError?: { code?: unknown } };
  const code = e.driverError?.code ?? e.code;
  return typeof code === 'string' && (code.startsWith('22') || code === '23503');
}

/** PING_MODE: fping must exist when asked for by name; auto takes it when it is on PATH. */
export function pingerFor(mode: 'auto' | 'fping' | 'ping', binary?: string): Pinger | null {
  if (mode === 'ping') return null;
  const found = findFping(binary);
  if (!found) {
    if (mode === 'fping')
      throw new Error('PING_MODE=fping but no fping on PATH: install fping, or set PING_MODE=ping or auto');
    log.info('ping checks: fping not found, one ping process per probe');
    return null;
  }
  log.info({ fping: found }, 'ping checks: batched through fping');
  return new FpingBatcher(found);
}
