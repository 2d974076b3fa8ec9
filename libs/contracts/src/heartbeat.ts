import { Type } from 'class-transformer';
import {
  ArrayMaxSize,
  IsArray,
  IsBoolean,
  IsIn,
  IsInt,
  IsNumber,
  IsOptional,
  IsString,
  IsUUID,
  Max,
  MaxLength,
  Min,
  ValidateNested,
} from 'class-validator';
import { CHECK_STATUSES, CheckStatus } from './checks';
import { MAX_SCENARIOS_PER_NODE, WATCHDOG_MODES, WatchdogMode } from './constants';
import { AGENT_ROLES, AgentRole, MAX_EPOCH } from './roles';

/** Result of one user-defined check that ran on the agent. */
export class LocalCheckResult {
  @IsString()
  @MaxLength(64)
  name: string;

  @IsIn(CHECK_STATUSES)
  status: CheckStatus;

  @IsOptional()
  @IsString()
  @MaxLength(1024)
  output?: string;

  @IsInt()
  @Min(0)
  durationMs: number;

  /** Agent clock, ms since epoch, when the check finished. */
  @IsInt()
  @Min(0)
  at: number;
}

/** What the agent believes about its role in one scenario. */
export class ScenarioRoleReport {
  @IsUUID()
  scenarioId: string;

  @IsIn(AGENT_ROLES)
  role: AgentRole;

  @IsInt()
  @Min(0)
  @Max(MAX_EPOCH)
  epoch: number;
}

/** How this agent sees another node of its scenarios (the multi-observer vote). */
export class PeerView {
  @IsUUID()
  nodeId: string;

  /** ms since this agent last heard from the peer (peer heartbeat or probe); null = never. */
  @IsOptional()
  @IsInt()
  @Min(0)
  lastSeenMsAgo: number | null;

  /** true when the peer answered within the agent's peer timeout. */
  @IsBoolean()
  reachable: boolean;
}

/**
 * The agent's watchdog: a separate process that takes the protected service down when the agent
 * stops renewing its lease (frozen, killed, cut off). Lease-expiry fencing relies on it.
 */
export class WatchdogReport {
  @IsIn(WATCHDOG_MODES)
  mode: WatchdogMode;

  /** true when the watchdog process runs and acknowledged the agent's latest kick. */
  @IsBoolean()
  armed: boolean;
}

/** POST /api/v1/heartbeats body, sent by an agent with its own node token. */
export class HeartbeatRequest {
  @IsUUID()
  nodeId: string;

  /** Monotonic per agent process start; a restart begins again at 0 with a new bootId. */
  @IsInt()
  @Min(0)
  seq: number;

  @IsString()
  @MaxLength(64)
  bootId: string;

  /** Agent clock, ms since epoch. */
  @IsInt()
  @Min(0)
  agentTime: number;

  @IsArray()
  @ArrayMaxSize(MAX_SCENARIOS_PER_NODE)
  @ValidateNested({ each: true })
  @Type(() => ScenarioRoleReport)
  scenarios: ScenarioRoleReport[];

  @IsArray()
  @ArrayMaxSize(256)
  @ValidateNested({ each: true })
  @Type(() => LocalCheckResult)
  checks: LocalCheckResult[];

  @IsArray()
  @ArrayMaxSize(MAX_SCENARIOS_PER_NODE)
  @ValidateNested({ each: true })
  @Type(() => PeerView)
  peerViews: PeerView[];

  /** Replication lag the replica reports, in seconds, when its config has a lag probe. */
  @IsOptional()
  @IsNumber()
  @Min(0)
  @Max(1e9)
  replicaLagSeconds?: number;

  @IsOptional()
  @ValidateNested()
  @Type(() => WatchdogReport)
  watchdog?: WatchdogReport;

  /**
   * Scenarios whose epoch the agent needs confirmed now (an action arrived with an epoch newer than
   * its last assignment): the answer carries their epochs read from PostgreSQL, not from a cache.
   */
  @IsOptional()
  @IsArray()
  @ArrayMaxSize(MAX_SCENARIOS_PER_NODE)
  @IsUUID('all', { each: true })
  confirmEpochs?: string[];

  /**
   * The assignmentVersion of the last full answer the agent applied: when the orchestrator's
   * answer would be the same, it leaves `scenarios` out (a node with 1,000 scenarios then parses
   * and checks a few bytes per heartbeat instead of its whole assignment).
   */
  @IsOptional()
  @IsString()
  @MaxLength(64)
  assignmentVersion?: string;
}

/** One peer the agent must exchange peer heartbeats with. */
export interface PeerInfo {
  nodeId: string;
  name: string;
  /** Base URL of the peer's agent API, e.g. http://127.0.0.22:7400 */
  agentUrl: string;
}

/** The orchestrator's view of one scenario, returned to every agent of it on each heartbeat. */
export interface ScenarioAssignment {
  scenarioId: string;
  name: string;
  epoch: number;
  /** The role the orchestrator expects this node to have now. */
  role: AgentRole;
  productionNodeId: string;
  activeNodeId: string;
  /** Self-fencing lease: production demotes itself after this long cut off from everyone. */
  leaseMs: number;
  peers: PeerInfo[];
  /** Shared secret of this scenario's agents for peer heartbeats. */
  peerToken: string;
}

export interface HeartbeatResponse {
  nodeId: string;
  serverTime: number;
  /** Left out when it equals what the request's assignmentVersion names (unchanged). */
  scenarios?: ScenarioAssignment[];
  /** Digest of `scenarios` (whether sent or not); the agent sends it back in its next heartbeat. */
  assignmentVersion?: string;
  /** This orchestrator takes UDP heartbeats (see udp-heartbeat.ts) on this port of the same host. */
  udpPort?: number;
  /**
   * With detection shared across instances: the base URLs of the instances that watch this node,
   * its owner first, then its backup. The agent sends its heartbeats there (and to every configured
   * orchestrator when none of them answers).
   */
  owners?: string[];
}

/** POST /peer/heartbeat body between agents of one scenario (Bearer = scenario peerToken). */
export class PeerHeartbeat {
  @IsUUID()
  fromNodeId: string;

  @IsUUID()
  scenarioId: string;

  @IsIn(AGENT_ROLES)
  role: AgentRole;

  @IsInt()
  @Min(0)
  @Max(MAX_EPOCH)
  epoch: number;

  @IsInt()
  @Min(0)
  sentAt: number;
}
