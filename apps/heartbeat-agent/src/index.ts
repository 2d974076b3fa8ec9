/** Public surface of the agent for in-process use (tests, embedding); main.ts is the CLI. */
export { Agent, mergeAssignments } from './agent';
export { CONFIG_DEFAULTS, loadConfig, parseConfig } from './config';
export type { AgentConfig } from './config';
export { decideSelfFence } from './lease';
export type { LeaseDecision, LeaseInput } from './lease';
export { createLogger } from './logger';
