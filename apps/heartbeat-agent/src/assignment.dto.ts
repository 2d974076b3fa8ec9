/**
 * Validation classes for the orchestrator's heartbeat response. libs/contracts declares it as
 * interfaces only; the agent acts on it (self-demotion), so it checks the shape first. Unknown
 * fields are stripped, not refused, so a newer orchestrator can add fields.
 */
import 'reflect-metadata'; // before @ha/contracts: its decorators read metadata at load time
import { Type } from 'class-transformer';
import {
  ArrayMaxSize,
  IsArray,
  IsIn,
  IsInt,
  IsOptional,
  IsString,
  IsUrl,
  IsUUID,
  Max,
  MaxLength,
  Min,
  MinLength,
  ValidateNested,
} from 'class-validator';
import {
  AGENT_ROLES,
  AgentRole,
  HeartbeatResponse,
  MAX_SCENARIOS_PER_NODE,
  MAX_EPOCH,
  PeerInfo,
  ScenarioAssignment,
} from '@ha/contracts';

export class PeerInfoDto implements PeerInfo {
  @IsUUID()
  nodeId: string;

  @IsString()
  @MaxLength(256)
  name: string;

  @IsUrl({ require_tld: false, require_protocol: true, protocols: ['http', 'https'] })
  agentUrl: string;
}

export class ScenarioAssignmentDto implements ScenarioAssignment {
  @IsUUID()
  scenarioId: string;

  @IsString()
  @MaxLength(256)
  name: string;

  @IsInt()
  @Min(0)
  @Max(MAX_EPOCH)
  epoch: number;

  @IsIn(AGENT_ROLES)
  role: AgentRole;

  @IsUUID()
  productionNodeId: string;

  @IsUUID()
  activeNodeId: string;

  @IsInt()
  @Min(1)
  leaseMs: number;

  @IsArray()
  @ArrayMaxSize(64)
  @ValidateNested({ each: true })
  @Type(() => PeerInfoDto)
  peers: PeerInfoDto[];

  @IsString()
  @MinLength(1)
  @MaxLength(4096)
  peerToken: string;
}

export class HeartbeatResponseDto implements HeartbeatResponse {
  @IsUUID()
  nodeId: string;

  @IsInt()
  @Min(0)
  serverTime: number;

  /** Absent when unchanged since the assignmentVersion the heartbeat sent. */
  @IsOptional()
  @IsArray()
  @ArrayMaxSize(MAX_SCENARIOS_PER_NODE)
  @ValidateNested({ each: true })
  @Type(() => ScenarioAssignmentDto)
  scenarios?: ScenarioAssignmentDto[];

  @IsOptional()
  @IsString()
  @MaxLength(64)
  assignmentVersion?: string;

  @IsOptional()
  @IsInt()
  @Min(1)
  @Max(65535)
  udpPort?: number;

  @IsOptional()
  @IsArray()
  @ArrayMaxSize(8)
  @IsUrl({ require_tld: false, require_protocol: true, protocols: ['http', 'https'] }, { each: true })
  owners?: string[];
}

/** Plain copy (drops class prototypes so JSON comparison and persistence stay simple). */
export function toPlainAssignment(a: ScenarioAssignment): ScenarioAssignment {
  return {
    scenarioId: a.scenarioId,
    name: a.name,
    epoch: a.epoch,
    role: a.role,
    productionNodeId: a.productionNodeId,
    activeNodeId: a.activeNodeId,
    leaseMs: a.leaseMs,
    peers: a.peers.map((p) => ({ nodeId: p.nodeId, name: p.name, agentUrl: p.agentUrl })),
    peerToken: a.peerToken,
  };
}
