/** The role a node plays in one scenario, as the agent believes it (persisted on the agent's disk). */
export const AGENT_ROLES = ['production', 'replica', 'demoted', 'unknown'] as const;
export type AgentRole = (typeof AGENT_ROLES)[number];

/**
 * Actions an agent may be asked to run. An agent runs one only when its own config file names it;
 * the orchestrator can never send a command line.
 */
export const AGENT_ACTIONS = [
  'promote',
  'demote',
  'fence',
  'start-app',
  'stop-app',
  'resync',
  'ar-suspend',
  'ar-start',
  'ar-check',
  'ar-snapshot',
  'ar-rewind',
  'ar-resume',
] as const;
export type AgentAction = (typeof AGENT_ACTIONS)[number];

export function isAgentAction(name: string): name is AgentAction {
  return (AGENT_ACTIONS as readonly string[]).includes(name);
}

/**
 * Epochs are PostgreSQL integers on the orchestrator: every epoch field (API, agent, contracts,
 * state file) is bounded by this, so a forged 2^31 or 1e300 is a 400, never a stored number.
 */
export const MAX_EPOCH = 2_147_483_647;
