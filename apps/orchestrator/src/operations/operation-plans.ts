/**
 * The ordered steps of each operation type (pure). Each step is idempotent: it checks its own
 * effect before acting, so a step re-run after a worker crash never repeats a side effect.
 */
import { OperationType } from './operation.entity';

/**
 * Every operation that moves users: take the epoch and check, then (after its own way of taking the
 * old active node out) promote the target, move DNS, verify, report. Only the middle differs.
 */
function moveUsers(...takeOut: string[]): readonly string[] {
  return [
    'lock-epoch',
    'pre-checks',
    ...takeOut,
    'promote',
    'redirect-dns',
    'verify-dns',
    // "clients moved": done at once ("not configured") unless the scenario has policy.verifyClients.
    'verify-clients',
    'post-checks',
    'notify',
    'audit',
  ];
}

export const STEP_PLANS: Partial<Record<OperationType, readonly string[]>> = {
  failover: moveUsers('fence'),
  switchover: moveUsers('demote-active'),
  failback: moveUsers('resync', 'demote-active'),
  // Split state (several nodes act as production): keep the chosen one, fence all the others.
  'active-server-recovery': moveUsers('fence-others'),
  start: ['start-checks', 'redirect-dns', 'verify-dns', 'notify', 'audit'],
  stop: ['notify', 'audit'],
  // Assured Recovery: all on one replica, no epoch bump, production and DNS untouched.
  'ar-test': ['ar-suspend', 'ar-start', 'ar-check', 'ar-snapshot', 'ar-rewind', 'ar-resume'],
};

/** Operations that move users to another node: the scenario is held from automatic failover after them. */
export const MOVES_USERS = new Set<OperationType>([
  'failover',
  'switchover',
  'failback',
  'active-server-recovery',
]);

/** The steps of one operation: ar-snapshot only when the request (or the scenario) asks for it. */
export function planFor(
  type: OperationType,
  params: Record<string, unknown> = {},
): readonly string[] | undefined {
  const plan = STEP_PLANS[type];
  if (type === 'ar-test' && plan) return plan.filter((s) => s !== 'ar-snapshot' || params.snapshot === true);
  return plan;
}

/**
 * Steps that run even when an earlier step failed or the operation was aborted: once a replica's
 * apply was suspended for an AR test it must be rewound and resumed, whatever happened in between.
 */
export const CLEANUP_STEPS = new Set(['ar-rewind', 'ar-resume']);

/** Scenario states from which each operation may start. */
export const ALLOWED_FROM: Partial<Record<OperationType, readonly string[]>> = {
  failover: ['running', 'degraded', 'failed_over'],
  switchover: ['running', 'degraded'],
  failback: ['failed_over', 'degraded'],
  start: ['stopped'],
  stop: ['running', 'degraded', 'failed_over'],
  'ar-test': ['running'],
  'active-server-recovery': ['running', 'degraded', 'failed_over'],
};

/** The transient state a scenario is in while the operation runs. */
export const RUNNING_STATE: Partial<Record<OperationType, string>> = {
  failover: 'failing_over',
  'active-server-recovery': 'failing_over',
  switchover: 'failing_over',
  failback: 'failing_back',
  start: 'starting',
  stop: 'stopping',
  'ar-test': 'ar_testing',
};

/** Steps that touch nodes: once one of them started, a failure leaves the scenario degraded. */
export const SIDE_EFFECT_STEPS = new Set([
  'fence',
  'fence-others',
  'demote-active',
  'resync',
  'promote',
  'redirect-dns',
  'ar-suspend',
  'ar-rewind',
  'ar-resume',
]);
