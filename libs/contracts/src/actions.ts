import { Type } from 'class-transformer';
import {
  ArrayMaxSize,
  ArrayMinSize,
  IsArray,
  IsInt,
  IsString,
  IsUUID,
  Max,
  MaxLength,
  Min,
  ValidateNested,
} from 'class-validator';
import { ActionRefusal, MAX_ACTION_BATCH } from './constants';
import { AgentAction, MAX_EPOCH } from './roles';

/**
 * POST {agentUrl}/actions/{action} body (Bearer = the node's action token).
 * The agent refuses an epoch lower than the one it stored for the scenario (409 `stale_epoch`), an
 * epoch higher than the orchestrator has issued (409 `epoch_not_issued`: it confirms a new epoch
 * with an orchestrator first), a scenario it is not assigned (404 `unknown_scenario`) and a request
 * whose deadline has passed (409 `deadline_passed`), and answers a replayed stepId with the stored
 * result instead of running the action again.
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
  @Max(MAX_EPOCH)
  epoch: number;

  /**
   * Orchestrator wall clock (ms since 1970) after which the action must not start: the caller has
   * given up by then. The agent corrects for clock offset with the serverTime of heartbeat answers.
   */
  @IsInt()
  @Min(0)
  @Max(8_640_000_000_000_000)
  deadline: number;
}

/**
 * Many scenarios' requests for the same action in one call (a mass failover): each is handled
 * exactly as if it came alone (epoch fencing, deadline, idempotent by stepId).
 */
export class ActionBatchRequest {
  @IsArray()
  @ArrayMinSize(1)
  @ArrayMaxSize(MAX_ACTION_BATCH)
  @ValidateNested({ each: true })
  @Type(() => ActionRequest)
  requests: ActionRequest[];
}

/** One result per request, in order: its ActionResponse, or the error body it would have got alone. */
export interface ActionBatchResponse {
  results: (({ ok: true } & ActionResponse) | ({ ok: false } & AgentErrorBody))[];
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
  /** Present when an action was refused: which rule refused it. */
  reason?: ActionRefusal;
}
