/**
 * The ordered steps of each operation type (pure). Each step is idempotent: it checks its own
 * effect before acting, so a step re-run after a worker crash never repeats a side effect.
 */
import { OperationType } from './operation.entity';

export const STEP_PLANS: Partial<Record<OperationType, readonly string[]>> = {
  failover: [
    'lock-epoch',
    'pre-checks',
    'fence',
    'promote',
    'redirect-dns',
    'verify-dns',
    'post-checks',
    'notify',
    'audit',
  ],
  switchover: [
    'lock-epoch',
    'pre-checks',
    'demote-active',
    'promote',
    'redirect-dns',
    'verify-dns',
    'post-checks',
    'notify',
    'audit',
  ],
  failback: [
    'lock-epoch',
    'pre-checks',
    'resync',
    'demote-active',
    'promote',
    'redirect-dns',
    'verify-dns',
    'post-checks',
    'notify',
    'audit',
  ],
  start: ['start-checks', 'redirect-dns', 'verify-dns', 'notify', 'audit'],
  stop: ['notify', 'audit'],
};

/** Scenario states from which each operation may start. */
export const ALLOWED_FROM: Partial<Record<OperationType, readonly string[]>> = {
  failover: ['running', 'degraded', 'failed_over'],
  switchover: ['running', 'degraded'],
  failback: ['failed_over', 'degraded'],
  start: ['stopped'],
  stop: ['running', 'degraded', 'failed_over'],
};

/** The transient state a scenario is in while the operation runs. */
export const RUNNING_STATE: Partial<Record<OperationType, string>> = {
  failover: 'failing_over',
  switchover: 'failing_over',
  failback: 'failing_back',
  start: 'starting',
  stop: 'stopping',
};

/** Steps that touch nodes: once one of them started, a failure leaves the scenario degraded. */
export const SIDE_EFFECT_STEPS = new Set(['fence', 'demote-active', 'resync', 'promote', 'redirect-dns']);
