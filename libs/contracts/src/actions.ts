import { IsInt, IsString, IsUUID, MaxLength, Min } from 'class-validator';
import { AGENT_ACTIONS, AgentAction } from './roles';

/**
 * POST {agentUrl}/actions/{action} body (Bearer = the node's action token).
 * The agent refuses an epoch lower than the one it stored for the scenario (409) and answers a
 * replayed stepId with the stored result instead of running the action again.
 */
export class ActionRequest {
  @IsUUID()
  operationId: string;

  @IsString()
  @MaxLength(128)
  stepId: string;

  @IsUUID()
  scenarioId: string;

  @IsInt()
  @Min(0)
  epoch: number;
}

export interface ActionResponse {
  action: AgentAction;
  stepId: string;
  scenarioId: string;
  epoch: number;
  status: 'ok' | 'failed';
  exitCode: number | null;
  timedOut: boolean;
  /** stdout+stderr, truncated to 4 KiB. */
  output: string;
  startedAt: number;
  finishedAt: number;
  /** true when this is the stored result of an earlier request with the same stepId. */
  replayed: boolean;
}

/** Error body of the agent API (4xx/5xx). */
export interface AgentErrorBody {
  statusCode: number;
  error: string;
  message: string;
  /** Present on 409 stale epoch: the epoch the agent holds. */
  currentEpoch?: number;
}

export function isAgentAction(name: string): name is AgentAction {
  return (AGENT_ACTIONS as readonly string[]).includes(name);
}
