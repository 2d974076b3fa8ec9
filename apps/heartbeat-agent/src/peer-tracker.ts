/**
 * Peer heartbeats between the agents of a scenario: sends ours to every peer each interval and
 * remembers when each peer node was last heard (its heartbeat to us, or its answer to ours).
 * Liveness is per node: hearing a node in one scenario proves we are not cut off from it.
 */
import 'reflect-metadata'; // before @ha/contracts: its decorators read metadata at load time
import { PeerHeartbeat, PeerView, ScenarioAssignment } from '@ha/contracts';
import { Logger } from 'pino';
import { validatePlain } from './validation';

export interface PeerReport {
  scenarioId: string;
  role: string;
  epoch: number;
  receivedAt: number;
}

export class PeerTracker {
  private readonly lastHeard = new Map<string, number>();
  private readonly lastReport = new Map<string, PeerReport>();
  private readonly inFlight = new Set<string>();
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly options: {
      nodeId: string;
      intervalMs: number;
      peerTimeoutMs: number;
      now: () => number;
      assignments: () => ScenarioAssignment[];
      /** Our role/epoch in a scenario, sent in each peer heartbeat. */
      ownRole: (scenarioId: string) => { role: PeerHeartbeat['role']; epoch: number };
      logger: Logger;
    },
  ) {}

  /** Records contact with a peer node at monotonic time `at` (keeps the latest). */
  heard(nodeId: string, at: number, report?: PeerReport): void {
    this.lastHeard.set(nodeId, Math.max(at, this.lastHeard.get(nodeId) ?? Number.NEGATIVE_INFINITY));
    if (report) this.lastReport.set(nodeId, report);
  }

  /** Latest contact with any of these nodes, or undefined if none was ever heard. */
  lastContact(nodeIds: string[]): number | undefined {
    let latest: number | undefined;
    for (const id of nodeIds) {
      const at = this.lastHeard.get(id);
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

  private sendAll(): void {
    for (const assignment of this.options.assignments()) {
      for (const peer of assignment.peers) {
        if (peer.nodeId === this.options.nodeId) continue;
        const key = `${assignment.scenarioId}/${peer.nodeId}`;
        // Never stack requests to a slow peer.
        if (this.inFlight.has(key)) continue;
        this.inFlight.add(key);
        void this.sendOne(assignment, peer.nodeId, peer.agentUrl).finally(() => this.inFlight.delete(key));
      }
    }
  }

  private async sendOne(assignment: ScenarioAssignment, peerNodeId: string, agentUrl: string): Promise<void> {
    const own = this.options.ownRole(assignment.scenarioId);
    const body: PeerHeartbeat = {
      fromNodeId: this.options.nodeId,
      scenarioId: assignment.scenarioId,
      role: own.role,
      epoch: own.epoch,
      sentAt: Date.now(),
    };
    // Contact time is when we sent: the peer was alive at some point after it, never earlier.
    const sentAt = this.options.now();
    try {
      const res = await fetch(`${agentUrl.replace(/\/+$/, '')}/peer/heartbeat`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: `Bearer ${assignment.peerToken}` },
        body: JSON.stringify(body),
        signal: AbortSignal.timeout(this.options.intervalMs),
      });
      const text = await res.text();
      if (!res.ok) {
        this.options.logger.debug(
          { event: 'peer.rejected', peerNodeId, statusCode: res.status },
          'peer refused our heartbeat',
        );
        return;
      }
      const answer = validatePlain(PeerHeartbeat, JSON.parse(text), { forbidUnknown: false });
      if (answer.fromNodeId !== peerNodeId) {
        this.options.logger.warn(
          { event: 'peer.wrong_node', peerNodeId, answeredBy: answer.fromNodeId, agentUrl },
          'peer URL is answered by another node',
        );
        return;
      }
      this.heard(peerNodeId, sentAt, {
        scenarioId: answer.scenarioId,
        role: answer.role,
        epoch: answer.epoch,
        receivedAt: Date.now(),
      });
    } catch (err) {
      this.options.logger.debug(
        { event: 'peer.unreachable', peerNodeId, err: (err as Error).message },
        'peer unreachable',
      );
    }
  }
}
