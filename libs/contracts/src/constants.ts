/**
 * Bounds and enumerations of the contracts, in a module without decorators: the agent loads these
 * (and roles, checks, json-limits, udp-heartbeat) without class-validator, whose metadata costs it
 * about 14 MB of memory. Keep this file free of class-validator and class-transformer imports.
 */

/**
 * Scenarios one node may carry (role reports, assignments, peer views): as many as a request may
 * hold in one array (the JSON limits' default). The default BODY_LIMIT_BYTES fits about 2,000
 * role reports per heartbeat; raise it for more.
 */
export const MAX_SCENARIOS_PER_NODE = 10_000;

export const WATCHDOG_MODES = ['none', 'process'] as const;
export type WatchdogMode = (typeof WATCHDOG_MODES)[number];

/** Most requests in one batch call (POST /actions/{action}/batch). */
export const MAX_ACTION_BATCH = 5000;

/** Why an agent refused an action (AgentErrorBody.reason). */
export const ACTION_REFUSALS = [
  'stale_epoch',
  'epoch_not_issued',
  'unknown_scenario',
  'deadline_passed',
  'step_conflict',
  // batch route only: still running at its deadline (a retry with the same stepId gets the result)
  'in_progress',
] as const;
export type ActionRefusal = (typeof ACTION_REFUSALS)[number];
