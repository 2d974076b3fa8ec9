/**
 * The heartbeat agent: wires config, state, checks, actions, heartbeats, peer heartbeats, the
 * self-fencing lease and the HTTP API. Can run in-process (tests, embedding) or from main.ts.
 */
import { randomUUID } from 'node:crypto';
import { AddressInfo } from 'node:net';
import type {
  ActionRequest,
  ActionResponse,
  HeartbeatRequest,
  HeartbeatResponse,
  PeerHeartbeat,
  PeerView,
  ScenarioAssignment,
  ScenarioRoleReport,
} from '@ha/contracts';
import { Logger } from 'pino';
import { ActionRunner } from './action-runner';
import { CheckRunner } from './check-runner';
import { AgentConfig } from './config';
import {
  ActionNotConfiguredError,
  DeadlinePassedError,
  EpochNotIssuedError,
  ForbiddenError,
  StaleEpochError,
  UnauthorizedError,
  UnknownScenarioError,
} from './errors';
import { HeartbeatSender } from './heartbeat-sender';
import { AgentApi, AgentHttpServer, safeEqual } from './http-server';
import { decideSelfFence } from './lease';
import { createLogger } from './logger';
import { PeerTracker } from './peer-tracker';
import { ProcessRunner } from './process-runner';
import { toPlainAssignment } from './schemas';
import { StateStore } from './state-store';
import { monotonicMs } from './watchdog/monotonic';
import { WatchdogClient } from './watchdog/watchdog-client';

/** After a failed self-demotion or self-fence, wait this long before trying again. */
const SELF_ACTION_RETRY_MS = 5000;
/** Wait this long for running actions on shutdown before killing them. */
const SHUTDOWN_GRACE_MS = 5000;
/** A lease tick this late means the process was paused (SIGSTOP, VM freeze, swap): logged. */
const PAUSE_WARN_MS = 1000;

const monotonicNow = (): number => performance.now();

/**
 * Keeps the newest view per scenario: a scenario whose stored assignment has a higher epoch than
 * the incoming one (a lagging orchestrator) keeps the stored one. Scenarios not in `incoming` go.
 */
export function mergeAssignments(
  current: ScenarioAssignment[],
  incoming: ScenarioAssignment[],
): ScenarioAssignment[] {
  const byId = new Map(current.map((a) => [a.scenarioId, a]));
  return incoming.map((a) => {
    const stored = byId.get(a.scenarioId);
    return stored && stored.epoch > a.epoch ? stored : a;
  });
}

export class Agent implements AgentApi {
  readonly bootId = randomUUID();
  private readonly startedAt = monotonicNow();
  private readonly startedAtWall = Date.now();
  private seq = 0;
  private leaseCheckSoon: Promise<void> | null = null;
  /** assignmentVersion of the last full heartbeat answer applied (the next heartbeat sends it back). */
  private assignmentVersion: string | undefined;
  private readonly processes = new ProcessRunner();
  private readonly checks: CheckRunner;
  private readonly actions: ActionRunner;
  private readonly peers: PeerTracker;
  private readonly heartbeats: HeartbeatSender;
  private readonly server: AgentHttpServer;
  private leaseTimer: NodeJS.Timeout | undefined;
  private lagTimer: NodeJS.Timeout | undefined;
  private replicaLag: { seconds: number; at: number } | undefined;
  private readonly selfActionRunning = new Set<string>();
  private readonly nextSelfFenceAt = new Map<string, number>();
  private readonly selfDemoteRetry = new Map<string, { epoch: number; attempt: number; nextAt: number }>();
  private address: AddressInfo | undefined;
  private stopping = false;
  private readonly watchdog: WatchdogClient;
  private lastLeaseTick = monotonicNow();
  /** Scenario ids waiting for the next epoch-confirmation heartbeat (coalesced across actions). */
  private confirmRound: { ids: Set<string>; sent: boolean; result: Promise<boolean> } | null = null;
  /** Scenarios with an orchestrator action being confirmed or run: it, not a self-demotion, acts. */
  private readonly orchestratorActing = new Map<string, number>();
  /** The heartbeat's role reports as of a store revision: 1,000 objects a second less to collect. */
  private roleReports: { revision: number; reports: ScenarioRoleReport[] } | undefined;

  private readonly logger: Logger;

  private constructor(
    readonly config: AgentConfig,
    private readonly store: StateStore,
    logger: Logger,
  ) {
    this.logger = logger.child({ context: 'Agent' });
    this.checks = new CheckRunner(config.checks, this.processes, logger.child({ context: 'CheckRunner' }));
    this.actions = new ActionRunner(
      config,
      store,
      this.processes,
      logger.child({ context: 'ActionRunner' }),
      {
        lateByMs: (deadline) => this.lateByMs(deadline),
      },
    );
    this.watchdog = new WatchdogClient(config.watchdog, logger.child({ context: 'Watchdog' }));
    this.peers = new PeerTracker({
      nodeId: config.nodeId,
      intervalMs: config.heartbeatIntervalMs,
      peerTimeoutMs: config.peerTimeoutMs,
      now: monotonicNow,
      clusterTime: () => this.clusterTime(),
      assignments: () => this.store.assignments(),
      ownRole: (scenarioId) => {
        const s = this.store.scenario(scenarioId);
        return { role: s?.role ?? 'unknown', epoch: s?.epoch ?? 0 };
      },
      logger: logger.child({ context: 'PeerTracker' }),
    });
    this.heartbeats = new HeartbeatSender({
      orchestrators: config.orchestrators,
      token: config.token,
      intervalMs: config.heartbeatIntervalMs,
      now: monotonicNow,
      build: () => this.buildHeartbeat(),
      onResponse: (response, orchestrator) => this.onHeartbeatResponse(response, orchestrator),
      logger: logger.child({ context: 'HeartbeatSender' }),
      ...(config.udp && {
        udp: {
          nodeId: config.nodeId,
          bootId: this.bootId,
          fullEveryMs: config.udp.fullEveryMs,
          heldVersion: () => this.assignmentVersion,
        },
      }),
    });
    this.server = new AgentHttpServer({
      host: config.listen.host,
      port: config.listen.port,
      actionToken: config.actionToken,
      api: this,
      logger: logger.child({ context: 'AgentHttpServer' }),
    });
  }

  /** Loads the state file (throws StateFileError when it is corrupt). */
  static create(config: AgentConfig, options: { logger?: Logger } = {}): Agent {
    const logger =
      options.logger ??
      createLogger({ level: config.logLevel, nodeId: config.nodeId, nodeName: config.nodeName });
    const store = StateStore.load(config.stateFile, config.nodeId);
    return new Agent(config, store, logger);
  }

  get url(): string {
    if (!this.address) throw new Error('agent is not listening');
    return `http://${this.address.family === 'IPv6' ? `[${this.address.address}]` : this.address.address}:${this.address.port}`;
  }

  async start(): Promise<void> {
    // Fail fast if the state file cannot be written, before anyone relies on us.
    await this.store.save();
    // Armed before the first heartbeat, so the orchestrator never sees this node unguarded.
    await this.watchdog.start();
    this.checkLeases();
    await this.watchdog.acknowledged(1000);
    this.address = await this.server.listen();
    this.checks.start();
    this.heartbeats.start();
    this.peers.start();
    this.startReplicaLagProbe();
    const leaseTick = Math.min(250, this.config.heartbeatIntervalMs);
    this.leaseTimer = setInterval(() => this.checkLeases(), leaseTick);
    for (const a of this.store.assignments()) {
      if (a.leaseMs < 2 * this.config.heartbeatIntervalMs) {
        this.logger.warn(
          { event: 'lease.short', scenarioId: a.scenarioId, leaseMs: a.leaseMs },
          'lease shorter than 2 heartbeat intervals',
        );
      }
    }
    this.logger.info(
      {
        event: 'agent.listening',
        url: this.url,
        bootId: this.bootId,
        stateFile: this.config.stateFile,
        scenarios: this.store.scenarios().map(({ scenarioId, role, epoch }) => ({ scenarioId, role, epoch })),
        actions: Object.keys(this.config.actions),
        checks: this.config.checks.map((c) => c.name),
      },
      'heartbeat agent started',
    );
  }

  async stop(): Promise<void> {
    if (this.stopping) return;
    this.stopping = true;
    clearInterval(this.leaseTimer);
    clearTimeout(this.lagTimer);
    this.heartbeats.stop();
    this.peers.stop();
    this.checks.stop();
    const closed = this.server.close();
    let graceTimer: NodeJS.Timeout | undefined;
    await Promise.race([
      this.actions.drain(),
      new Promise((resolve) => (graceTimer = setTimeout(resolve, SHUTDOWN_GRACE_MS))),
    ]);
    clearTimeout(graceTimer);
    this.processes.killAll();
    this.watchdog.stop(this.store.scenarios().some((s) => s.role === 'production'));
    await closed;
    await this.store.flush();
    this.logger.info({ event: 'agent.stopped' }, 'heartbeat agent stopped');
  }

  // ---- AgentApi (HTTP) ----

  isActionConfigured(action: string): boolean {
    return this.actions.isConfigured(action);
  }

  async runAction(action: string, request: ActionRequest): Promise<ActionResponse> {
    if (!this.actions.isConfigured(action)) throw new ActionNotConfiguredError(action);
    // After a pause, the lease comes first: a self-fence is queued before this action can run.
    // (One check serves every request that arrived in the same turn: a batch of 1,000 is one.)
    await this.checkLeasesSoon();
    // Deadlines are in the orchestrators' time. Just started, this agent has not measured its
    // clock against theirs yet: a clock minutes off would judge every deadline wrong. Ask first.
    if (!this.heartbeats.hasClockOffset()) await this.heartbeats.exchangeNow([], 1000);
    const late = this.lateByMs(request.deadline);
    if (late > 0 && !this.store.findStep(`${request.scenarioId}/${request.stepId}`)) {
      this.logger.warn(
        {
          event: 'action.refused',
          reason: 'deadline_passed',
          action,
          stepId: request.stepId,
          lateByMs: late,
        },
        'action arrived after its deadline; not run',
      );
      throw new DeadlinePassedError(late);
    }
    const sid = request.scenarioId;
    this.orchestratorActing.set(sid, (this.orchestratorActing.get(sid) ?? 0) + 1);
    try {
      await this.confirmEpoch(action, request);
      const result = await this.actions.execute({
        action,
        operationId: request.operationId,
        stepId: request.stepId,
        scenarioId: sid,
        epoch: request.epoch,
        deadline: request.deadline,
      });
      // A promote makes this node production: arm the watchdog's deadline before answering.
      await this.checkLeasesSoon();
      return result;
    } finally {
      const left = (this.orchestratorActing.get(sid) ?? 1) - 1;
      if (left > 0) this.orchestratorActing.set(sid, left);
      else this.orchestratorActing.delete(sid);
    }
  }

  /** The orchestrators' time as this agent estimates it (AgentApi: the batch route's answer margin). */
  orchestratorNow(): number {
    return this.heartbeats.orchestratorNow();
  }

  /** How far past `deadline` (orchestrator wall clock) we are, corrected by the heartbeat clock offset. */
  private lateByMs(deadline: number): number {
    return this.heartbeats.orchestratorNow() - deadline;
  }

  /**
   * Epochs are issued by the orchestrator only. An action for a scenario this node is not assigned,
   * or with an epoch newer than the latest assignment (the usual case for a failover's first action),
   * is checked with an orchestrator first, which reads the epoch from PostgreSQL; a replayed step
   * (its result is stored) needs no check.
   */
  private async confirmEpoch(action: string, request: ActionRequest): Promise<void> {
    if (this.store.findStep(`${request.scenarioId}/${request.stepId}`)) return;
    // `fence` is what a fencing hook runs against another node's service: the hook node is usually
    // no member of the scenario, so it has no assignment to check against. It only takes a node
    // down (the safe direction), still carries a deadline, and its epoch is bounded.
    if (action === 'fence') return;
    const known = (): number | undefined => this.assignment(request.scenarioId)?.epoch;
    const before = known();
    if (before !== undefined && request.epoch <= before) return;
    const answered = await this.confirmAssignments(request.scenarioId);
    const after = known();
    const refuse = (err: Error, reason: string): never => {
      this.logger.warn(
        {
          event: 'action.refused',
          reason,
          action,
          stepId: request.stepId,
          scenarioId: request.scenarioId,
          epoch: request.epoch,
          issuedEpoch: after ?? null,
        },
        err.message,
      );
      throw err;
    };
    if (!answered && (after === undefined || request.epoch > after)) {
      refuse(new EpochNotIssuedError(null, request.epoch), 'epoch_not_issued');
    }
    if (after === undefined) refuse(new UnknownScenarioError(request.scenarioId), 'unknown_scenario');
    if (request.epoch > after!) refuse(new EpochNotIssuedError(after!, request.epoch), 'epoch_not_issued');
  }

  /** One confirmation heartbeat for every scenario asked about in the same tick. */
  private confirmAssignments(scenarioId: string): Promise<boolean> {
    if (this.confirmRound && !this.confirmRound.sent) {
      this.confirmRound.ids.add(scenarioId);
      return this.confirmRound.result;
    }
    const round = { ids: new Set([scenarioId]), sent: false, result: Promise.resolve(false) };
    round.result = new Promise<boolean>((resolve) =>
      setImmediate(() => {
        round.sent = true;
        if (this.confirmRound === round) this.confirmRound = null;
        this.heartbeats.exchangeNow([...round.ids]).then(resolve, () => resolve(false));
      }),
    );
    this.confirmRound = round;
    return round.result;
  }

  receivePeerHeartbeat(heartbeat: PeerHeartbeat, bearer: string | undefined): PeerHeartbeat {
    // A request that waited in a socket buffer during a pause must not renew anything first.
    this.checkLeases();
    const assignment = this.assignment(heartbeat.scenarioId);
    // Unknown scenario and wrong token look the same to the caller.
    if (!assignment || bearer === undefined || !safeEqual(bearer, assignment.peerToken)) {
      throw new UnauthorizedError('missing or invalid peer token');
    }
    if (!assignment.peers.some((p) => p.nodeId === heartbeat.fromNodeId)) {
      throw new ForbiddenError('fromNodeId is not a peer of this scenario');
    }
    // A sign of life for the views we report, counted when read (never earlier than the peer sent
    // it, so a failover's lease wait, which asks us, sees every renewal the peer took from our
    // answer). It does not renew our own lease: only our heartbeats the peer answers do (see
    // PeerTracker). Answers carry our time as the orchestrators tell it (own clock + measured offset).
    const clusterNow = this.clusterTime();
    this.peers.heard(heartbeat.fromNodeId, monotonicNow(), {
      scenarioId: heartbeat.scenarioId,
      role: heartbeat.role,
      epoch: heartbeat.epoch,
      receivedAt: Date.now(),
    });
    const own = this.store.scenario(heartbeat.scenarioId);
    return {
      fromNodeId: this.config.nodeId,
      scenarioId: heartbeat.scenarioId,
      role: own?.role ?? 'unknown',
      epoch: own?.epoch ?? 0,
      sentAt: Math.max(0, Math.round(clusterNow)),
    };
  }

  /** The orchestrators' wall-clock time as this agent estimates it (its own clock when it has not heard them yet). */
  private clusterTime(): number {
    return this.heartbeats.orchestratorNow();
  }

  /**
   * How this node hears each peer, right now: lastSeenMsAgo counts from when we last read a
   * heartbeat of that peer or got its answer to ours, which covers every lease renewal the peer
   * took from us (see PeerTracker). A restarted agent forgets what it heard before: upForMs tells
   * the asker since when these views speak.
   */
  peerViews(): { nodeId: string; upForMs: number; peerViews: PeerView[] } {
    return {
      nodeId: this.config.nodeId,
      upForMs: Math.round(monotonicNow() - this.startedAt),
      peerViews: this.peers.views(this.allPeerIds()),
    };
  }

  status(): Record<string, unknown> {
    const now = monotonicNow();
    const orchestratorContact = this.heartbeats.lastContact();
    const msAgo = (t: number | undefined): number | null => (t === undefined ? null : Math.round(now - t));
    return {
      nodeId: this.config.nodeId,
      nodeName: this.config.nodeName,
      bootId: this.bootId,
      seq: this.seq,
      startedAt: this.startedAtWall,
      lastOrchestratorContactMsAgo: msAgo(orchestratorContact),
      heartbeatsTo: this.heartbeats.ownerUrls(),
      orchestrators: this.heartbeats.status().map((c) => ({
        url: c.url,
        transport: c.transport ?? null,
        lastContactMsAgo: msAgo(c.lastContact),
        lastError: c.lastError ?? null,
      })),
      scenarios: this.store.scenarios().map((s) => {
        const a = this.assignment(s.scenarioId);
        const peerIds = this.peerIds(a);
        const lease = decideSelfFence({
          role: s.role,
          now,
          startedAt: this.startedAt,
          lastOrchestratorContact: orchestratorContact,
          lastPeerContact: this.peers.lastContact(peerIds),
          leaseMs: a?.leaseMs ?? this.config.defaultLeaseMs,
        });
        return {
          scenarioId: s.scenarioId,
          name: a?.name ?? null,
          role: s.role,
          epoch: s.epoch,
          assignedRole: a?.role ?? null,
          assignedEpoch: a?.epoch ?? null,
          leaseMs: a?.leaseMs ?? this.config.defaultLeaseMs,
          cutOffForMs: Math.round(lease.cutOffForMs),
          peerViews: this.peers.views(peerIds),
        };
      }),
      peerViews: this.peers.views(this.allPeerIds()),
      peerReports: this.peers.reports(),
      checks: this.checks.latest(),
      replicaLagSeconds: this.freshReplicaLag() ?? null,
      watchdog: this.watchdog.status(this.isProduction()),
      clockOffsetMs: Math.round(this.heartbeats.clockOffsetMs()),
      recentSteps: this.store.recentSteps(20).map((s) => s.response),
    };
  }

  // ---- heartbeats and assignments ----

  private buildHeartbeat(): HeartbeatRequest {
    const request: HeartbeatRequest = {
      nodeId: this.config.nodeId,
      seq: this.seq++,
      bootId: this.bootId,
      agentTime: Date.now(),
      scenarios: this.currentRoleReports(),
      checks: this.checks.latest(),
      peerViews: this.peers.views(this.allPeerIds()),
      watchdog: this.watchdog.report(this.isProduction()),
      ...(this.assignmentVersion !== undefined && { assignmentVersion: this.assignmentVersion }),
    };
    const lag = this.freshReplicaLag();
    if (lag !== undefined) request.replicaLagSeconds = lag;
    return request;
  }

  private currentRoleReports(): ScenarioRoleReport[] {
    const revision = this.store.revision;
    if (this.roleReports?.revision !== revision) {
      // Only scenarios the orchestrator assigns us: a deleted scenario's leftovers are not reported.
      const reports = this.store
        .scenarios()
        .filter((s) => this.assignment(s.scenarioId) !== undefined)
        .map(({ scenarioId, role, epoch }) => ({ scenarioId, role, epoch }));
      this.roleReports = { revision, reports };
    }
    return this.roleReports.reports;
  }

  private onHeartbeatResponse(response: HeartbeatResponse, orchestrator: string): void {
    // An answer that waited in a socket buffer during a pause must not run before the lease check.
    this.checkLeases();
    if (response.nodeId.toLowerCase() !== this.config.nodeId) {
      this.logger.error(
        { event: 'orchestrator.wrong_node', orchestrator, answeredFor: response.nodeId },
        'orchestrator answered for another node; assignments ignored',
      );
      return;
    }
    let merged: ScenarioAssignment[];
    let changed = false;
    if (response.scenarios === undefined) {
      // Left out: the orchestrator's answer is the one we applied last (same digest).
      if (response.assignmentVersion === undefined || response.assignmentVersion !== this.assignmentVersion) {
        this.logger.warn(
          { event: 'orchestrator.no_assignments', orchestrator, version: response.assignmentVersion ?? null },
          'heartbeat answer without assignments for a version we do not hold; asking for them again',
        );
        this.assignmentVersion = undefined;
        return;
      }
      merged = this.store.assignments();
    } else {
      merged = mergeAssignments(this.store.assignments(), response.scenarios.map(toPlainAssignment));
      changed = this.store.setAssignments(merged);
      this.assignmentVersion = response.assignmentVersion;
    }
    const now = monotonicNow();
    for (const a of merged) {
      const local = this.store.scenario(a.scenarioId);
      if (local?.role === 'production' && a.role !== 'production') {
        // The orchestrator is fencing us right now (its action confirmed this epoch): let it.
        if (this.orchestratorActing.has(a.scenarioId)) continue;
        const retry = this.selfDemoteRetry.get(a.scenarioId);
        if (a.epoch > local.epoch) {
          void this.selfDemote(a, 1);
        } else if (retry && a.epoch >= retry.epoch && now >= retry.nextAt) {
          void this.selfDemote(a, retry.attempt + 1);
        }
        continue;
      }
      // Epochs only move forward. A node without a role yet (first assignment, or a lost state
      // file) takes the role the orchestrator assigns: this is what arms the self-fencing lease of a
      // production node. After that, roles change only through actions (promote/demote/resync).
      const role = !local || local.role === 'unknown' ? a.role : local.role;
      if (this.store.updateScenario(a.scenarioId, { epoch: a.epoch, role })) changed = true;
    }
    if (changed) {
      // A role that just became production gets its watchdog deadline now, not at the next tick.
      this.checkLeases();
      this.store
        .save()
        .catch((err: Error) =>
          this.logger.error(
            { event: 'state.save_failed', err: err.message },
            'could not persist assignments',
          ),
        );
    }
  }

  /**
   * An old production that comes back after a failover: the orchestrator says, at a higher epoch,
   * that this node is no longer production. Demote before anything else can happen.
   */
  private async selfDemote(assignment: ScenarioAssignment, attempt: number): Promise<void> {
    const scenarioId = assignment.scenarioId;
    if (this.selfActionRunning.has(scenarioId)) return;
    this.selfActionRunning.add(scenarioId);
    const stepId =
      attempt === 1
        ? `self-demote-${assignment.epoch}`
        : `self-demote-${assignment.epoch}-retry-${attempt - 1}`;
    this.logger.error(
      {
        event: 'scenario.self_demote',
        scenarioId,
        epoch: assignment.epoch,
        assignedRole: assignment.role,
        stepId,
      },
      'SELF-DEMOTING: the orchestrator moved production away from this node at a higher epoch',
    );
    try {
      const ok = await this.runSelfDemotion(scenarioId, assignment.epoch, stepId);
      if (ok) this.selfDemoteRetry.delete(scenarioId);
      else
        this.selfDemoteRetry.set(scenarioId, {
          epoch: assignment.epoch,
          attempt,
          nextAt: monotonicNow() + SELF_ACTION_RETRY_MS,
        });
    } finally {
      this.selfActionRunning.delete(scenarioId);
    }
  }

  // ---- self-fencing lease ----

  /**
   * Runs every lease tick and first thing in every request handler (so that after a pause nothing
   * acts before the lease is checked): self-fences a production cut off for its lease, and kicks
   * the watchdog with the earliest lease expiry of the scenarios this node is production in.
   */
  /**
   * checkLeases after the current turn of the event loop, once for every caller of that turn;
   * resolves when it has run (so a caller's change, made before it asked, is covered).
   */
  private checkLeasesSoon(): Promise<void> {
    this.leaseCheckSoon ??= new Promise<void>((resolve) =>
      setImmediate(() => {
        this.leaseCheckSoon = null;
        try {
          this.checkLeases();
        } catch (err) {
          // Never an uncaught exception in a timer: the next lease tick checks again.
          this.logger.error(
            { event: 'lease.check_failed', err: (err as Error).message },
            'lease check failed',
          );
        } finally {
          resolve();
        }
      }),
    );
    return this.leaseCheckSoon;
  }

  private checkLeases(): void {
    if (this.stopping) return;
    const now = monotonicNow();
    const gap = now - this.lastLeaseTick;
    this.lastLeaseTick = now;
    if (gap > PAUSE_WARN_MS) {
      this.logger.warn({ event: 'agent.paused', pausedForMs: Math.round(gap) }, 'agent was not running');
    }
    const orchestratorContact = this.heartbeats.lastContact();
    let watchdogExpiry: number | null = null;
    let fromContact = true;
    for (const s of this.store.scenarios()) {
      if (s.role !== 'production') continue;
      const a = this.assignment(s.scenarioId);
      const lastPeerContact = this.peers.lastPeerContact(a?.peers ?? []);
      const leaseMs = a?.leaseMs ?? this.config.defaultLeaseMs;
      // The watchdog's deadline rests on contact only (send times, so never later than what the
      // orchestrators saw); with none since start it may only shorten an inherited deadline.
      const since = Math.max(
        orchestratorContact ?? Number.NEGATIVE_INFINITY,
        lastPeerContact ?? Number.NEGATIVE_INFINITY,
      );
      if (since === Number.NEGATIVE_INFINITY) fromContact = false;
      const expiry = (since === Number.NEGATIVE_INFINITY ? this.startedAt : since) + leaseMs;
      watchdogExpiry = watchdogExpiry === null ? expiry : Math.min(watchdogExpiry, expiry);

      if (this.selfActionRunning.has(s.scenarioId)) continue;
      if ((this.nextSelfFenceAt.get(s.scenarioId) ?? 0) > now) continue;
      const decision = decideSelfFence({
        role: s.role,
        now,
        startedAt: this.startedAt,
        lastOrchestratorContact: orchestratorContact,
        lastPeerContact,
        leaseMs,
      });
      if (decision.selfFence) void this.selfFence(s.scenarioId, s.epoch, decision.reason);
    }
    this.watchdog.kick(watchdogExpiry === null ? null : monotonicMs() + (watchdogExpiry - now), fromContact);
  }

  private async selfFence(scenarioId: string, epoch: number, reason: string): Promise<void> {
    this.selfActionRunning.add(scenarioId);
    const stepId = `self-fence-${epoch}-${Date.now()}`;
    this.logger.fatal(
      { event: 'lease.self_fence', scenarioId, epoch, stepId, reason },
      'SELF-FENCING: cut off from every orchestrator and every peer for the lease; demoting this node',
    );
    try {
      const ok = await this.runSelfDemotion(scenarioId, epoch, stepId);
      if (!ok) this.nextSelfFenceAt.set(scenarioId, monotonicNow() + SELF_ACTION_RETRY_MS);
    } finally {
      this.selfActionRunning.delete(scenarioId);
    }
  }

  /** Runs the configured demote for a decision the agent took itself. Returns true when demoted. */
  private async runSelfDemotion(scenarioId: string, epoch: number, stepId: string): Promise<boolean> {
    if (!this.actions.isConfigured('demote')) {
      // Nothing to run; the node must still stop claiming production.
      this.logger.error(
        { event: 'scenario.self_demote_without_action', scenarioId, epoch },
        'no demote action configured: marking this node demoted without running a script',
      );
      this.store.updateScenario(scenarioId, { epoch, role: 'demoted' });
      await this.store
        .save()
        .catch((err: Error) => this.logger.error({ event: 'state.save_failed', err: err.message }));
      return true;
    }
    try {
      const result = await this.actions.execute({
        action: 'demote',
        operationId: '',
        stepId,
        scenarioId,
        epoch,
      });
      return result.status === 'ok';
    } catch (err) {
      if (err instanceof StaleEpochError) {
        this.logger.warn(
          { event: 'scenario.self_demote_stale', scenarioId, epoch, currentEpoch: err.currentEpoch },
          err.message,
        );
        return true;
      }
      this.logger.error({
        event: 'scenario.self_demote_failed',
        scenarioId,
        epoch,
        err: (err as Error).message,
      });
      return false;
    }
  }

  // ---- replica lag probe ----

  private startReplicaLagProbe(): void {
    const probe = this.config.replicaLag;
    if (!probe) return;
    const tick = async (): Promise<void> => {
      const run = await this.processes.run({
        command: probe.command,
        args: probe.args,
        timeoutMs: probe.timeoutMs,
        maxOutputBytes: 256,
      });
      const seconds = Number(run.stdout.trim());
      if (run.exitCode === 0 && run.stdout.trim() !== '' && Number.isFinite(seconds) && seconds >= 0) {
        this.replicaLag = { seconds, at: monotonicNow() };
      } else {
        this.logger.warn(
          {
            event: 'replica_lag.failed',
            exitCode: run.exitCode,
            timedOut: run.timedOut,
            output: run.output.slice(0, 200),
          },
          'replica lag probe gave no number',
        );
      }
      if (!this.stopping) this.lagTimer = setTimeout(() => void tick(), probe.intervalMs);
    };
    void tick();
  }

  /** The last lag measurement, unless it is older than 3 probe intervals. */
  private freshReplicaLag(): number | undefined {
    const probe = this.config.replicaLag;
    if (!probe || !this.replicaLag) return undefined;
    const maxAge = 3 * Math.max(probe.intervalMs, probe.timeoutMs);
    return monotonicNow() - this.replicaLag.at <= maxAge ? this.replicaLag.seconds : undefined;
  }

  // ---- helpers ----

  private assignment(scenarioId: string): ScenarioAssignment | undefined {
    return this.store.assignment(scenarioId);
  }

  private peerIds(assignment: ScenarioAssignment | undefined): string[] {
    return (assignment?.peers ?? []).map((p) => p.nodeId).filter((id) => id !== this.config.nodeId);
  }

  private isProduction(): boolean {
    return this.store.scenarios().some((s) => s.role === 'production');
  }

  private allPeerIds(): string[] {
    const ids = new Set<string>();
    for (const a of this.store.assignments())
      for (const p of a.peers) if (p.nodeId !== this.config.nodeId) ids.add(p.nodeId);
    return [...ids];
  }
}
