/**
 * From check states and peer observations to a node verdict (pure logic).
 *
 * Orchestrator view: down when a check is failing (heartbeat past its TTL counts), suspect when a
 * check is on its way to failing or the heartbeat is late, up otherwise.
 * Quorum: a node the orchestrator sees down is `failed` only when at least `peerQuorum` fresh peer
 * observers also lost it AND no fresh peer still reaches it; otherwise it is `suspect` — an
 * orchestrator that is itself cut off must not declare production dead.
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
  switch (input.view) {
    case 'unknown':
      return { verdict: 'unknown', reason: 'no data yet', peersDown, peersUp };
    case 'up':
      return { verdict: 'healthy', reason: 'all checks passing', peersDown, peersUp };
    case 'suspect':
      return { verdict: 'suspect', reason: 'a check is failing below its threshold', peersDown, peersUp };
    case 'down':
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
      return { verdict: 'failed', reason: `orchestrator and ${peersDown} peer(s) lost the node`, peersDown, peersUp };
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
