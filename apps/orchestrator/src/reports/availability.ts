/**
 * The availability of one scenario over a period, from what the orchestrator recorded (pure: the
 * service reads the rows, this does the arithmetic; unit-tested in availability.spec.ts).
 *
 * - The **active node** over time: before the first operation that moved it, the node that
 *   operation moved away from; after each one, its target, from the moment DNS was updated (the
 *   verify-dns step's end).
 * - **Downtime**: the time the active node's verdict was `failed` (users were pointed at a node the
 *   orchestrator saw as dead), clipped to the period. A failover ends it when DNS moves; a node that
 *   recovers on its own ends it with its next non-failed verdict.
 * - **Failure → DNS**: per failover, from the old active node's last `failed` verdict before the
 *   operation was requested, to DNS updated.
 */
export interface SwitchingOperation {
  type: string;
  trigger: 'auto' | 'manual';
  createdAt: Date;
  /** when users were moved: the verify-dns step's end */
  switchedAt: Date;
  oldActiveNodeId: string | null;
  targetNodeId: string | null;
}

export interface VerdictChange {
  nodeId: string;
  at: Date;
  to: string;
}

export interface AvailabilityInput {
  since: Date;
  until: Date;
  /** the scenario did not exist before this */
  createdAt: Date;
  activeNodeIdNow: string | null;
  /** succeeded operations that moved the active node, any order */
  operations: SwitchingOperation[];
  /** every verdict change of the scenario's nodes up to `until`, plus the last one before `since` */
  verdicts: VerdictChange[];
  failedOperations: number;
  arResults: string[];
}

export interface Availability {
  periodMinutes: number;
  downtimeMinutes: number;
  availabilityPercent: number | null;
  failovers: number;
  automaticFailovers: number;
  switchovers: number;
  failbacks: number;
  failedOperations: number;
  failureToDnsMs: { count: number; mean: number | null; max: number | null };
  arTests: { total: number; passed: number; passRate: number | null };
}

const round = (n: number, digits: number) => Math.round(n * 10 ** digits) / 10 ** digits;

export function availability(input: AvailabilityInput): Availability {
  const start = Math.max(input.since.getTime(), input.createdAt.getTime());
  const end = input.until.getTime();
  const periodMs = Math.max(0, end - start);
  const ops = [...input.operations].sort((a, b) => a.switchedAt.getTime() - b.switchedAt.getTime());
  const inPeriod = ops.filter(
    (o) => o.switchedAt.getTime() >= input.since.getTime() && o.switchedAt.getTime() < end,
  );

  // The active node's intervals: [from, to) → node.
  const segments: { from: number; to: number; node: string | null }[] = [];
  let node = ops.length ? ops[0].oldActiveNodeId : input.activeNodeIdNow;
  let from = -Infinity;
  for (const o of ops) {
    const t = o.switchedAt.getTime();
    segments.push({ from, to: t, node });
    node = o.targetNodeId;
    from = t;
  }
  segments.push({ from, to: Infinity, node });

  // Each node's failed intervals from its verdict changes.
  const byNode = new Map<string, VerdictChange[]>();
  for (const v of input.verdicts) {
    if (!byNode.has(v.nodeId)) byNode.set(v.nodeId, []);
    byNode.get(v.nodeId)!.push(v);
  }
  const failedIntervals = new Map<string, [number, number][]>();
  for (const [id, list] of byNode) {
    list.sort((a, b) => a.at.getTime() - b.at.getTime());
    const out: [number, number][] = [];
    let downSince: number | null = null;
    for (const v of list) {
      const t = v.at.getTime();
      if (v.to === 'failed' && downSince === null) downSince = t;
      else if (v.to !== 'failed' && downSince !== null) {
        out.push([downSince, t]);
        downSince = null;
      }
    }
    if (downSince !== null) out.push([downSince, Infinity]);
    failedIntervals.set(id, out);
  }

  let downMs = 0;
  for (const s of segments) {
    if (!s.node) continue;
    for (const [a, b] of failedIntervals.get(s.node) ?? []) {
      const lo = Math.max(a, s.from, start);
      const hi = Math.min(b, s.to, end);
      if (hi > lo) downMs += hi - lo;
    }
  }

  const failovers = inPeriod.filter((o) => o.type === 'failover');
  const toDns: number[] = [];
  for (const o of failovers) {
    if (!o.oldActiveNodeId) continue;
    const created = o.createdAt.getTime();
    const failedAt = (byNode.get(o.oldActiveNodeId) ?? [])
      .filter((v) => v.to === 'failed' && v.at.getTime() <= created)
      .map((v) => v.at.getTime())
      .pop();
    // Only a failure of this incident: the node still failed when the operation was requested.
    const stillFailed = (failedIntervals.get(o.oldActiveNodeId) ?? []).some(
      ([a, b]) => a <= created && created < b,
    );
    if (failedAt !== undefined && stillFailed) toDns.push(o.switchedAt.getTime() - failedAt);
  }
  const passed = input.arResults.filter((r) => r === 'passed').length;
  return {
    periodMinutes: round(periodMs / 60_000, 2),
    downtimeMinutes: round(downMs / 60_000, 3),
    availabilityPercent: periodMs > 0 ? round(100 * (1 - downMs / periodMs), 4) : null,
    failovers: failovers.length,
    automaticFailovers: failovers.filter((o) => o.trigger === 'auto').length,
    switchovers: inPeriod.filter((o) => o.type === 'switchover').length,
    failbacks: inPeriod.filter((o) => o.type === 'failback').length,
    failedOperations: input.failedOperations,
    failureToDnsMs: {
      count: toDns.length,
      mean: toDns.length ? Math.round(toDns.reduce((a, b) => a + b, 0) / toDns.length) : null,
      max: toDns.length ? Math.max(...toDns) : null,
    },
    arTests: {
      total: input.arResults.length,
      passed,
      passRate: input.arResults.length ? round(passed / input.arResults.length, 4) : null,
    },
  };
}
