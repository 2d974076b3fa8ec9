/**
 * Which node an operation promotes (pure): the candidates in the scenario's priority order, each
 * judged against the promotion policy, with the reasons why it is or is not eligible. Used by the
 * lock-epoch step and by dry runs, so a plan and the real operation choose alike.
 *
 * Never overridden: a failed node (unless named explicitly) and a node in maintenance.
 * Overridden by `force`: replication lag above `maxLagSeconds`, missing `requiredLabels`, and a
 * different site when `allowCrossSite` is false.
 * Order among the eligible: preferred labels first, then nodes whose agent answered (lag known),
 * then the rest; within each, the scenario's replica order.
 */
export interface CandidateFacts {
  nodeId: string;
  name: string;
  labels: Record<string, string>;
  failed: boolean;
  inMaintenance: boolean;
  /** as its agent reports it; null: it reports none */
  lagSeconds: number | null;
  /** set when its agent did not answer the status request (the lag is unknown) */
  unreachable?: string;
}

export interface TargetPolicy {
  maxLagSeconds: number | null;
  requiredLabels?: Record<string, string>;
  preferredLabels?: Record<string, string>;
  /** false: only a node with the old active node's `site` label */
  allowCrossSite?: boolean;
}

export interface CandidateVerdict {
  nodeId: string;
  name: string;
  eligible: boolean;
  preferred: boolean;
  lagSeconds: number | null;
  /** why it is not eligible, or notes (overridden by force, lag unknown) */
  reasons: string[];
}

export interface TargetChoice {
  target: CandidateVerdict | null;
  /** every candidate, best first */
  ranked: CandidateVerdict[];
  /** one line for an error or an alert when there is no target */
  summary: string;
}

const matches = (labels: Record<string, string>, want: Record<string, string> | undefined) =>
  Object.entries(want ?? {}).filter(([k, v]) => labels[k] !== v);

export function judge(
  c: CandidateFacts,
  policy: TargetPolicy,
  oldActiveSite: string | undefined,
  opts: { force: boolean; explicit?: boolean },
): CandidateVerdict {
  const hard: string[] = [];
  const soft: string[] = [];
  const notes: string[] = [];
  if (c.inMaintenance) hard.push('in maintenance');
  if (c.failed && !opts.explicit) hard.push('failed');
  if (c.unreachable) notes.push(`lag unknown: ${c.unreachable}`);
  if (policy.maxLagSeconds !== null && c.lagSeconds !== null && c.lagSeconds > policy.maxLagSeconds)
    soft.push(`lags ${c.lagSeconds} s (max ${policy.maxLagSeconds} s)`);
  for (const [k, v] of matches(c.labels, policy.requiredLabels)) soft.push(`lacks required label ${k}=${v}`);
  if (policy.allowCrossSite === false && oldActiveSite !== undefined && c.labels.site !== oldActiveSite)
    soft.push(
      `site ${c.labels.site ?? '(none)'} is not ${oldActiveSite} and the policy keeps failovers in their site`,
    );
  const eligible = hard.length === 0 && (soft.length === 0 || opts.force);
  const reasons = [...hard, ...soft.map((r) => (eligible ? `${r} (overridden by force)` : r)), ...notes];
  const preferred =
    Object.keys(policy.preferredLabels ?? {}).length > 0 &&
    matches(c.labels, policy.preferredLabels).length === 0;
  return { nodeId: c.nodeId, name: c.name, eligible, preferred, lagSeconds: c.lagSeconds, reasons };
}

export function chooseTarget(
  candidates: CandidateFacts[],
  policy: TargetPolicy,
  oldActiveSite: string | undefined,
  opts: { force: boolean; requested?: string },
): TargetChoice {
  const judged = candidates.map((c) =>
    judge(c, policy, oldActiveSite, { force: opts.force, explicit: c.nodeId === opts.requested }),
  );
  const rank = (v: CandidateVerdict, i: number) =>
    (v.eligible ? 0 : 1000) + (v.preferred ? 0 : 100) + (candidates[i].unreachable ? 10 : 0) + i / 1000;
  const ranked = judged
    .map((v, i) => ({ v, r: rank(v, i) }))
    .sort((a, b) => a.r - b.r)
    .map((x) => x.v);
  const pick = opts.requested ? judged.find((v) => v.nodeId === opts.requested) : ranked[0];
  const target = pick?.eligible ? pick : null;
  const summary = target
    ? `${target.name}${target.reasons.length ? ` (${target.reasons.join('; ')})` : ''}`
    : opts.requested && !pick
      ? `node ${opts.requested} is not a replica of this scenario or is already active`
      : `no eligible replica: ${(opts.requested ? [pick!] : ranked).map((v) => `${v.name}: ${v.reasons.join('; ') || 'eligible'}`).join(' | ') || 'none configured'}`;
  return { target, ranked, summary };
}
