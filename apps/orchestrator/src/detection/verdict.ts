/**
 * From check states and peer observations to a node verdict (pure logic).
 *
 * Orchestrator view: down when a check is failing (heartbeat past its TTL counts), suspect when a
 * check is on its way to failing or the heartbeat is late, up otherwise.
 *
 * Two kinds of "down" are told apart, because they answer different questions:
 * - Reachability failures (heartbeat past its TTL, the orchestrator's own ping/tcp/http/database
 *   probes) say "the orchestrator cannot get at the node". That may as well be the orchestrator's
 *   own network, so they go to the vote. Quorum: the node is `failed` only when at least
 *   `peerQuorum` fresh peer observers also lost it AND no fresh peer still reaches it; otherwise it
 *   is `suspect` — an orchestrator that is itself cut off must not declare production dead.
 * - Self-reported application failures (a user-defined check in the node's own agent config,
 *   relayed with its heartbeats, failing past its threshold) say "the node is reachable and tells
 *   us its service is dead". That is not a partition question: a peer that still reaches the agent
 *   proves nothing about the service, so the node is `failed` whatever the peers say. The detector
 *   passes these only while the node's heartbeats are on time; once the heartbeats are lost too,
 *   the reachability rule decides again (a stale report must not outvote peers that see it alive).
 *
 * Damping: a failed node is declared healthy again only after staying healthy for recoveryHoldMs.
 */
import { Verdict } from '@ha/contracts';

export type OrchestratorView = 'up' | 'suspect' | 'down' | 'unknown';

export interface PeerVote {
  observer: string;
  reachable: boolean;
  /** ms since the observer last heard the node (null = never) */
  seenMsAgo: number | null;
  /** observer's report is recent and the observer itself is alive */
  fresh: boolean;
}

export interface VerdictInput {
  view: OrchestratorView;
  votes: PeerVote[];
  peerQuorum: number;
  /**
   * Names of failing checks the node reported about itself (relayed user-defined checks) while its
   * heartbeats are on time. Non-empty → failed, regardless of peer votes.
   */
  selfReportedFailures?: string[];
}

export interface RawVerdict {
  verdict: Verdict;
  reason: string;
  peersDown: number;
  peersUp: number;
}

export function rawVerdict(input: VerdictInput): RawVerdict {
  const fresh = input.votes.filter((v) => v.fresh);
  const peersDown = fresh.filter((v) => !v.reachable).length;
  const peersUp = fresh.filter((v) => v.reachable).length;
  const selfReported = input.selfReportedFailures ?? [];
  switch (input.view) {
    case 'unknown':
      return { verdict: 'unknown', reason: 'no data yet', peersDown, peersUp };
    case 'up':
      return { verdict: 'healthy', reason: 'all checks passing', peersDown, peersUp };
    case 'suspect':
      return { verdict: 'suspect', reason: 'a check is failing below its threshold', peersDown, peersUp };
    case 'down':
      if (selfReported.length > 0) {
        return {
          verdict: 'failed',
          reason: `the node reports its own check(s) ${selfReported.join(', ')} critical`,
          peersDown,
          peersUp,
        };
      }
      if (peersUp > 0) {
        return {
          verdict: 'suspect',
          reason: `orchestrator lost the node but ${peersUp} peer(s) still reach it`,
          peersDown,
          peersUp,
        };
      }
      if (peersDown < input.peerQuorum) {
        return {
          verdict: 'suspect',
          reason: `orchestrator lost the node; ${peersDown}/${input.peerQuorum} peer confirmations`,
          peersDown,
          peersUp,
        };
      }
      return {
        verdict: 'failed',
        reason: `orchestrator and ${peersDown} peer(s) lost the node`,
        peersDown,
        peersUp,
      };
  }
}

/** Hold-down: once failed, stay failed until healthy for holdMs without interruption. */
export class VerdictDamper {
  verdict: Verdict = 'unknown';
  since = 0;
  private healthySince: number | null = null;

  constructor(private holdMs: number) {}

  setHold(ms: number): void {
    this.holdMs = ms;
  }

  /** Returns the damped verdict; `changed` tells whether it differs from the previous one. */
  update(raw: Verdict, now: number): { verdict: Verdict; changed: boolean; previous: Verdict } {
    const previous = this.verdict;
    let next: Verdict = raw;
    if (previous === 'failed' && raw !== 'failed') {
      if (raw === 'healthy') {
        this.healthySince ??= now;
        next = now - this.healthySince >= this.holdMs ? 'healthy' : 'failed';
      } else {
        this.healthySince = null;
        next = 'failed';
      }
    } else {
      this.healthySince = null;
    }
    if (next !== previous) {
      this.verdict = next;
      this.since = now;
    }
    return { verdict: next, changed: next !== previous, previous };
  }
}
