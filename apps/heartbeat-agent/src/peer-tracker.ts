/**
 * Peer heartbeats between the agents of a scenario: sends ours to every peer node each interval
 * and remembers when each peer node was last heard (its heartbeat to us, or its answer to ours).
 *
 * Two times per peer, for two uses:
 * - heard (the views reported to the orchestrators): any sign of life, an inbound heartbeat at the
 *   moment we read it;
 * - answered (what renews a production's lease and its watchdog): the send time of one of OUR
 *   heartbeats that the peer answered. The peer read that request after we sent it and counts it
 *   as heard then, so every lease renewal through a peer is in the peer's own view, which it
 *   reports to the orchestrators and which a failover's lease wait asks it for. An inbound
 *   heartbeat never renews the lease: nothing tells the orchestrators that we read it.
 * Liveness is per node: hearing a node in one scenario proves we are not cut off from it, so one
 * heartbeat per peer node and interval is enough however many scenarios the two nodes share.
 */
import type { PeerHeartbeat, PeerView, ScenarioAssignment } from '@ha/contracts';
import { Logger } from 'pino';
import { postJson } from './http-client';
import { PEER_HEARTBEAT_SCHEMA } from './schemas';
import { validatePlain } from './validation';

export interface PeerReport {
  scenarioId: string;
  role: string;
  epoch: number;
  receivedAt: number;
}

/** Shared scenarios tried per peer and round when the peer refuses their tokens. */
const MAX_TOKENS_PER_ROUND = 16;

export class PeerTracker {
  private readonly lastHeard = new Map<string, number>();
  private readonly lastAnswered = new Map<string, number>();
  private readonly lastReport = new Map<string, PeerReport>();
  /** peer node id → in flight */
  private readonly inFlight = new Set<string>();
  /** peer node id → index of the shared scenario whose token its heartbeats use */
  private readonly rotation = new Map<string, number>();
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly options: {
      nodeId: string;
      intervalMs: number;
      peerTimeoutMs: number;
      now: () => number;
      /**
       * Wall-clock time corrected by this agent's measured offset to the orchestrators (default
       * Date.now): peers compare `sentAt` in that common time, so an agent whose own clock is off
       * by minutes is still heard as fresh.
       */
      clusterTime?: () => number;
      assignments: () => ScenarioAssignment[];
      /** Our role/epoch in a scenario, sent in each peer heartbeat. */
      ownRole: (scenarioId: string) => { role: PeerHeartbeat['role']; epoch: number };
      logger: Logger;
    },
  ) {}

  /** Records a sign of life of a peer node at monotonic time `at` (keeps the latest). */
  heard(nodeId: string, at: number, report?: PeerReport): void {
    this.lastHeard.set(nodeId, Math.max(at, this.lastHeard.get(nodeId) ?? Number.NEGATIVE_INFINITY));
    if (report) this.lastReport.set(nodeId, report);
  }

  /** The peer answered our heartbeat sent at monotonic time `sentAt`: lease contact (and heard). */
  answered(nodeId: string, sentAt: number, report: PeerReport): void {
    this.lastAnswered.set(
      nodeId,
      Math.max(sentAt, this.lastAnswered.get(nodeId) ?? Number.NEGATIVE_INFINITY),
    );
    this.heard(nodeId, sentAt, report);
  }

  /**
   * Lease contact: the latest send time of our heartbeats that any of these nodes answered, or
   * undefined if none ever did.
   */
  lastContact(nodeIds: string[]): number | undefined {
    let latest: number | undefined;
    for (const id of nodeIds) {
      const at = this.lastAnswered.get(id);
      if (at !== undefined && (latest === undefined || at > latest)) latest = at;
    }
    return latest;
  }

  /**
   * Latest contact with any of `peers` but this node itself, or undefined: lastContact without the
   * arrays (the lease check asks for every production scenario four times a second).
   */
  lastPeerContact(peers: readonly { nodeId: string }[]): number | undefined {
    let latest: number | undefined;
    for (const { nodeId } of peers) {
      if (nodeId === this.options.nodeId) continue;
      const at = this.lastAnswered.get(nodeId);
      if (at !== undefined && (latest === undefined || at > latest)) latest = at;
    }
    return latest;
  }

  views(nodeIds: string[]): PeerView[] {
    const now = this.options.now();
    return [...new Set(nodeIds)].map((nodeId) => {
      const at = this.lastHeard.get(nodeId);
      const lastSeenMsAgo = at === undefined ? null : Math.max(0, Math.round(now - at));
      return {
        nodeId,
        lastSeenMsAgo,
        reachable: lastSeenMsAgo !== null && lastSeenMsAgo <= this.options.peerTimeoutMs,
      };
    });
  }

  reports(): Record<string, PeerReport> {
    return Object.fromEntries(this.lastReport);
  }

  start(): void {
    const tick = (): void => {
      this.sendAll();
      this.timer = setTimeout(tick, this.options.intervalMs);
    };
    tick();
  }

  stop(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
  }

  /**
   * One heartbeat per peer node and interval, not one per shared scenario: liveness is per node,
   * so a node carrying 1,000 scenarios with one peer sends one request, not 1,000. It uses a
   * scenario shared with that peer (its token authenticates the exchange), the same one while the
   * peer takes it; a refusal (the peer no longer has that scenario) moves on to the next one at
   * once, up to MAX_TOKENS_PER_ROUND in a round.
   */
  private sendAll(): void {
    const shared = new Map<string, { agentUrl: string; assignments: ScenarioAssignment[] }>();
    for (const assignment of this.options.assignments()) {
      for (const peer of assignment.peers) {
        if (peer.nodeId === this.options.nodeId) continue;
        let entry = shared.get(peer.nodeId);
        if (!entry) shared.set(peer.nodeId, (entry = { agentUrl: peer.agentUrl, assignments: [] }));
        entry.assignments.push(assignment);
      }
    }
    for (const [peerNodeId, { agentUrl, assignments }] of shared) {
      // Never stack requests to a slow peer.
      if (this.inFlight.has(peerNodeId)) continue;
      this.inFlight.add(peerNodeId);
      void this.sendToPeer(peerNodeId, agentUrl, assignments).finally(() => this.inFlight.delete(peerNodeId));
    }
    for (const id of [...this.rotation.keys()]) if (!shared.has(id)) this.rotation.delete(id);
  }

  private async sendToPeer(
    peerNodeId: string,
    agentUrl: string,
    assignments: ScenarioAssignment[],
  ): Promise<void> {
    // The scenario that worked last time first (its token is known good), then the next ones: a
    // peer whose assignments lag behind ours must not go unheard (a lone production would fence).
    const tries = Math.min(MAX_TOKENS_PER_ROUND, assignments.length);
    for (let i = 0; i < tries; i++) {
      const n = this.rotation.get(peerNodeId) ?? 0;
      const outcome = await this.sendOne(assignments[n % assignments.length], peerNodeId, agentUrl);
      if (outcome !== 'refused') return;
      this.rotation.set(peerNodeId, n + 1);
    }
  }

  private async sendOne(
    assignment: ScenarioAssignment,
    peerNodeId: string,
    agentUrl: string,
  ): Promise<'heard' | 'refused' | 'unreachable'> {
    const own = this.options.ownRole(assignment.scenarioId);
    const body: PeerHeartbeat = {
      fromNodeId: this.options.nodeId,
      scenarioId: assignment.scenarioId,
      role: own.role,
      epoch: own.epoch,
      sentAt: Math.max(0, Math.round(this.options.clusterTime?.() ?? Date.now())),
    };
    // Contact time is when we sent: the peer was alive at some point after it, never earlier.
    const sentAt = this.options.now();
    try {
      const res = await postJson(`${agentUrl.replace(/\/+$/, '')}/peer/heartbeat`, JSON.stringify(body), {
        headers: { 'content-type': 'application/json', authorization: `Bearer ${assignment.peerToken}` },
        timeoutMs: this.options.intervalMs,
        maxBytes: 64 * 1024,
      });
      const text = res.text;
      if (res.status < 200 || res.status > 299) {
        this.options.logger.debug(
          { event: 'peer.rejected', peerNodeId, statusCode: res.status, scenarioId: assignment.scenarioId },
          'peer refused our heartbeat',
        );
        return res.status === 401 || res.status === 403 ? 'refused' : 'unreachable';
      }
      const answer = validatePlain<PeerHeartbeat>(PEER_HEARTBEAT_SCHEMA, JSON.parse(text), {
        forbidUnknown: false,
      });
      if (answer.fromNodeId !== peerNodeId) {
        this.options.logger.warn(
          { event: 'peer.wrong_node', peerNodeId, answeredBy: answer.fromNodeId, agentUrl },
          'peer URL is answered by another node',
        );
        return 'unreachable';
      }
      this.answered(peerNodeId, sentAt, {
        scenarioId: answer.scenarioId,
        role: answer.role,
        epoch: answer.epoch,
        receivedAt: Date.now(),
      });
      return 'heard';
    } catch (err) {
      this.options.logger.debug(
        { event: 'peer.unreachable', peerNodeId, err: (err as Error).message },
        'peer unreachable',
      );
      return 'unreachable';
    }
  }
}
