/**
 * What the detector decides about one scenario whose active node is in trouble (pure): fail over,
 * or not, and why. The rules, in the order they apply:
 *
 * 1. `no-quorum`    the orchestrator lost the active node but its peers do not confirm it (some still
 *                   reach it, or too few lost it): not failed, nothing done.
 * 2. `state`        failed while the scenario is failed over (its other nodes are demoted and not
 *                   resynced): alert, an operator decides.
 * 3. `manual-mode`  failed, failover mode manual: alert, an operator decides.
 * 4. `maintenance`  failed inside a maintenance window of the node, the scenario or one of its groups:
 *                   no automatic failover.
 * 5. `hold-down`    failed within the hold-down period after the last move of users.
 * 6. `fencing-blocked` failed and cannot be fenced (agent silent, no armed watchdog, no fencing hook).
 * 7. `failover`     none of the above: a failover is requested, unless the storm brake (read after
 *                   this, for all candidates at once) says `storm-brake`.
 *
 * Split state (`split-state`) and an AR test being aborted (`ar-abort`) are decided where they are
 * found (detectSplitState, the failover request); they use the same record.
 */
import { Verdict } from '@ha/contracts';

export const DECISION_OUTCOMES = [
  'failover',
  'failback',
  'suppressed',
  'alert',
  'blocked',
  'delayed',
  'no-action',
] as const;
export type DecisionOutcome = (typeof DECISION_OUTCOMES)[number];

export const DECISION_RULES = [
  'failover',
  'switch-all',
  'no-quorum',
  'state',
  'manual-mode',
  'maintenance',
  'hold-down',
  'fencing-blocked',
  'storm-brake',
  'split-state',
  'ar-abort',
  /** an automatic failover found no replica the promotion policy allows (written by the operation) */
  'policy',
  'failback',
  'not-resynced',
] as const;
export type DecisionRule = (typeof DECISION_RULES)[number];

export interface DecisionInput {
  scenario: {
    name: string;
    state: string;
    failoverMode: 'auto' | 'manual';
    holdUntil: Date | null;
  };
  /** the active node's name, for messages */
  node: string;
  verdict: Verdict;
  /** the orchestrator lost the node and its peers do not confirm it */
  noQuorum: boolean;
  /** failed only because the verdict is held while the node recovers (heard again): not acted on */
  recovering?: boolean;
  /** the verdict's reason, as the detector gave it */
  reason: string;
  maintenance: { id: string; scopeType: string; endsAt: Date; reason: string } | null;
  cannotFence: boolean;
  now: number;
}

export interface Decision {
  outcome: DecisionOutcome;
  rule: DecisionRule;
  /** the event this decision is announced as (webhooks, the event log) */
  eventKind: string;
  severity: 'info' | 'warning' | 'critical';
  message: string;
}

/** States in which a failed active node is acted on or alerted about. */
export const ALERT_STATES = new Set(['running', 'degraded', 'failed_over', 'ar_testing']);
/** States from which the detector fails over on its own. */
export const AUTO_FAILOVER_STATES = new Set(['running', 'degraded', 'ar_testing']);

/** null: nothing to decide (the active node is not failed, or the scenario is not protected now). */
export function decide(i: DecisionInput): Decision | null {
  const s = i.scenario;
  if (!ALERT_STATES.has(s.state)) return null;
  // Heard again: failing it over now would move users off a node that answers (say, one an
  // operator just failed back to while its verdict still holds).
  if (i.verdict === 'failed' && i.recovering === true) return null;
  if (i.verdict !== 'failed') {
    if (!i.noQuorum) return null;
    return {
      outcome: 'no-action',
      rule: 'no-quorum',
      eventKind: 'failover-withheld',
      severity: 'warning',
      message: `${i.node} (active of ${s.name}) is unreachable from the orchestrator but its peers do not confirm it (${i.reason}): not failed, no failover`,
    };
  }
  if (!AUTO_FAILOVER_STATES.has(s.state)) {
    return {
      outcome: 'alert',
      rule: 'state',
      eventKind: 'alert',
      severity: 'critical',
      message: `${i.node} (active of ${s.name}) failed while ${s.state}: no automatic failover from this state, waiting for an operator`,
    };
  }
  if (s.failoverMode === 'manual') {
    return {
      outcome: 'alert',
      rule: 'manual-mode',
      eventKind: 'alert',
      severity: 'critical',
      message: `${i.node} (active of ${s.name}) failed: manual mode, waiting for an operator`,
    };
  }
  const w = i.maintenance;
  if (w) {
    return {
      outcome: 'suppressed',
      rule: 'maintenance',
      eventKind: 'failover-suppressed',
      severity: 'warning',
      message:
        `${i.node} failed but ${s.name} is in maintenance (window ${w.id} on ${w.scopeType}, until ` +
        `${w.endsAt.toISOString()}: ${w.reason}): no automatic failover`,
    };
  }
  if (s.holdUntil && s.holdUntil.getTime() > i.now) {
    return {
      outcome: 'suppressed',
      rule: 'hold-down',
      eventKind: 'failover-suppressed',
      severity: 'warning',
      message: `${i.node} failed but ${s.name} is in its hold-down period until ${s.holdUntil.toISOString()}`,
    };
  }
  if (i.cannotFence) {
    return {
      outcome: 'blocked',
      rule: 'fencing-blocked',
      eventKind: 'failover-blocked',
      severity: 'critical',
      message:
        `${i.node} (active of ${s.name}) failed and cannot be fenced: its agent does not answer, it reported no armed watchdog ` +
        'and the scenario has no fencing hook, so lease expiry would not prove its service stopped. No automatic failover. ' +
        'Power it off or isolate it, then fail over with force and confirmFenced',
    };
  }
  return {
    outcome: 'failover',
    rule: 'failover',
    eventKind: 'failover-requested',
    severity: 'critical',
    message: `automatic failover of ${s.name} requested: ${i.node} failed (${i.reason})`,
  };
}

/** The storm brake said no to a failover `decide` allowed. */
export function brakeDecision(scenario: string, node: string): Decision {
  return {
    outcome: 'suppressed',
    rule: 'storm-brake',
    eventKind: 'failover-suppressed',
    severity: 'critical',
    message: `${node} failed but the storm brake is engaged: no automatic failover of ${scenario}`,
  };
}

/** A switch-all group action refused whole by the storm brake: one decision for the group. */
export function groupBrakeDecision(group: string, failedNodes: string[]): Decision {
  return {
    outcome: 'suppressed',
    rule: 'storm-brake',
    eventKind: 'failover-suppressed',
    severity: 'critical',
    message:
      `${[...new Set(failedNodes)].join(', ')} failed but moving group ${group} (switch all if any fails) ` +
      'would exceed the storm brake budget, or the brake is engaged: no member is failed over automatically',
  };
}

export interface FailbackInput {
  scenario: {
    name: string;
    state: string;
    holdUntil: Date | null;
    activeNodeId: string;
    productionNodeId: string;
  };
  /** the original production's name, verdict and reported replication lag (null: it reports none) */
  production: { name: string; verdict: Verdict; lagSeconds: number | null };
  /** the failback policy's maximum lag for "resynced" */
  maxLagSeconds: number;
  /** the failback window open now, if any */
  window: { closesAt: number } | null;
  maintenance: { id: string; endsAt: Date } | null;
  now: number;
}

/**
 * Automatic failback (policy.failback.mode automatic), decided while the scenario is failed over:
 * nothing to decide outside the window or while the original production is not healthy; inside it,
 * `hold-down` and `maintenance` hold it back, `not-resynced` while its agent reports no lag or more
 * than the bound; otherwise `failback`.
 */
export function decideFailback(i: FailbackInput): Decision | null {
  const s = i.scenario;
  if (s.state !== 'failed_over' || s.activeNodeId === s.productionNodeId) return null;
  if (!i.window || i.production.verdict !== 'healthy') return null;
  const p = i.production.name;
  const withheld = (rule: DecisionRule, why: string): Decision => ({
    outcome: 'no-action',
    rule,
    eventKind: 'failback-withheld',
    severity: 'info',
    message: `automatic failback of ${s.name} to ${p} withheld: ${why}`,
  });
  if (s.holdUntil && s.holdUntil.getTime() > i.now)
    return withheld('hold-down', `hold-down until ${s.holdUntil.toISOString()}`);
  if (i.maintenance)
    return withheld(
      'maintenance',
      `maintenance window ${i.maintenance.id} until ${i.maintenance.endsAt.toISOString()}`,
    );
  const lag = i.production.lagSeconds;
  if (lag === null || lag > i.maxLagSeconds)
    return withheld(
      'not-resynced',
      lag === null
        ? `${p} reports no replication lag, so it is not known to be resynced`
        : `${p} lags ${lag} s (at most ${i.maxLagSeconds} s to fail back)`,
    );
  return {
    outcome: 'failback',
    rule: 'failback',
    eventKind: 'failback-requested',
    severity: 'warning',
    message: `automatic failback of ${s.name} to ${p} requested: healthy, resynced (lag ${lag} s), window open until ${new Date(i.window.closesAt).toISOString()}`,
  };
}
