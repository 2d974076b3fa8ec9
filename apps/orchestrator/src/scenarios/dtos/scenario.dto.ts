import { ApiProperty, ApiPropertyOptional, OmitType, PartialType } from '@nestjs/swagger';
import { Type } from 'class-transformer';
import {
  ArrayMaxSize,
  ArrayMinSize,
  ArrayUnique,
  IsArray,
  IsBoolean,
  IsIn,
  IsInt,
  IsObject,
  IsOptional,
  IsString,
  IsUUID,
  Matches,
  Max,
  MaxLength,
  Min,
  MinLength,
  Validate,
  ValidateNested,
  ValidationArguments,
  ValidatorConstraint,
  ValidatorConstraintInterface,
} from 'class-validator';
import { PaginationQuery } from '../../common/dtos/pagination.dto';
import { DNS_RECORD_TYPES, DnsRecordType } from '../../dns/dns-provider.interface';
import { LabelsConstraint, NAME_PATTERN } from '../../nodes/dtos/node.dto';
import { IsCronExpression } from './cron-expression.validator';
import {
  CHECK_KINDS,
  CheckKind,
  CLIENT_PROBE_KINDS,
  ClientProbeKind,
  FAILBACK_MODES,
  FailbackMode,
  FAILOVER_MODES,
  FailoverMode,
  SCENARIO_STATES,
  ScenarioState,
} from '../scenario.types';

const DNS_NAME =
  /^(?=.{1,253}$)([a-z0-9_]([a-z0-9-_]{0,61}[a-z0-9])?\.)*[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/i;

export class DnsRecordDto {
  @ApiProperty({ example: 'example.test', description: 'Zone the record lives in' })
  @IsString()
  @Matches(DNS_NAME, { message: 'zone must be a DNS name' })
  zone: string;

  @ApiProperty({ example: 'app.example.test', description: 'Fully qualified name inside the zone' })
  @IsString()
  @Matches(DNS_NAME, { message: 'name must be a DNS name' })
  name: string;

  @ApiProperty({ enum: DNS_RECORD_TYPES, example: 'A' })
  @IsIn(DNS_RECORD_TYPES)
  type: DnsRecordType;

  @ApiProperty({ example: 5, minimum: 0, maximum: 86400 })
  @IsInt()
  @Min(0)
  @Max(86400)
  ttl: number;
}

export class CheckDto {
  @ApiProperty({ example: 'heartbeat' })
  @IsString()
  @Matches(/^[a-z0-9][a-z0-9_-]{0,62}$/, { message: 'name must be lower-case letters, digits, _ and -' })
  name: string;

  @ApiProperty({ enum: CHECK_KINDS, example: 'heartbeat' })
  @IsIn(CHECK_KINDS)
  kind: CheckKind;

  @ApiPropertyOptional({ example: 1000, default: 1000 })
  @IsOptional()
  @IsInt()
  @Min(100)
  @Max(3_600_000)
  intervalMs?: number;

  @ApiPropertyOptional({ example: 1000, default: 1000 })
  @IsOptional()
  @IsInt()
  @Min(50)
  @Max(600_000)
  timeoutMs?: number;

  @ApiPropertyOptional({ example: 1, default: 1, description: 'Consecutive failures before the check fails' })
  @IsOptional()
  @IsInt()
  @Min(1)
  @Max(100)
  failureThreshold?: number;

  @ApiPropertyOptional({
    example: 2,
    default: 2,
    description: 'Consecutive passes before a failing check passes',
  })
  @IsOptional()
  @IsInt()
  @Min(1)
  @Max(100)
  recoveryThreshold?: number;

  @ApiPropertyOptional({ example: 3000, description: 'heartbeat: time without a heartbeat before it fails' })
  @IsOptional()
  @IsInt()
  @Min(100)
  @Max(3_600_000)
  ttlMs?: number;

  @ApiPropertyOptional({ example: 5432, description: 'tcp: port to connect to' })
  @IsOptional()
  @IsInt()
  @Min(1)
  @Max(65535)
  port?: number;

  @ApiPropertyOptional({
    example: 'http://{address}:8080/health',
    description: 'http: URL ({address} = node address); database: connection URL',
  })
  @IsOptional()
  @IsString()
  @MaxLength(1024)
  target?: string;

  @ApiPropertyOptional({ example: 200 })
  @IsOptional()
  @IsInt()
  @Min(100)
  @Max(599)
  expectStatus?: number;

  @ApiPropertyOptional({ example: 'ok' })
  @IsOptional()
  @IsString()
  @MaxLength(1024)
  expectBody?: string;

  @ApiPropertyOptional({ example: 'select 1' })
  @IsOptional()
  @IsString()
  @MaxLength(2048)
  query?: string;

  @ApiPropertyOptional({ example: '1' })
  @IsOptional()
  @IsString()
  @MaxLength(1024)
  expectResult?: string;

  @ApiPropertyOptional({
    example: 'app-alive',
    description: "user: name of a check in the agent's own config",
  })
  @IsOptional()
  @IsString()
  @MaxLength(64)
  agentCheck?: string;
}

export class FencingHookDto {
  @ApiProperty({ description: 'Node whose agent runs its `fence` action against the old production' })
  @IsUUID()
  nodeId: string;

  @ApiProperty({ enum: ['fence'] })
  @IsIn(['fence'])
  action: 'fence';
}

export class ClientProbeDto {
  @ApiProperty({ enum: CLIENT_PROBE_KINDS, example: 'tcp' })
  @IsIn(CLIENT_PROBE_KINDS)
  kind: ClientProbeKind;

  @ApiProperty({
    example: 'app.example.test:443',
    description:
      "tcp: `<dns name>:<port>`; http: an http(s) URL. The host must be one of the scenario's A/AAAA records; it is resolved through the first resolver",
  })
  @IsString()
  @MaxLength(1024)
  target: string;

  @ApiPropertyOptional({ example: 2000, default: 2000 })
  @IsOptional()
  @IsInt()
  @Min(100)
  @Max(60_000)
  timeoutMs?: number;
}

/** An IANA time zone the runtime knows (e.g. Europe/Paris). */
@ValidatorConstraint({ name: 'timeZone' })
export class TimeZoneConstraint implements ValidatorConstraintInterface {
  validate(value: unknown): boolean {
    if (typeof value !== 'string' || value.length > 64) return false;
    try {
      new Intl.DateTimeFormat('en-US', { timeZone: value });
      return true;
    } catch {
      return false;
    }
  }
  defaultMessage(): string {
    return 'timezone must be an IANA time zone such as Europe/Paris';
  }
}

export class FailbackWindowDto {
  @ApiProperty({
    example: '0 0 2 * * 1-5',
    description: 'When a window opens (cron, optional seconds field)',
  })
  @IsString()
  @IsCronExpression({ message: 'cron must be a cron expression (e.g. "0 0 2 * * *")' })
  cron: string;

  @ApiProperty({ example: 120, description: 'How long each window lasts (minutes, 1 to 1440)' })
  @IsInt()
  @Min(1)
  @Max(1440)
  durationMinutes: number;

  @ApiPropertyOptional({
    example: 'Europe/Paris',
    description: 'Time zone of the cron expression (default UTC)',
  })
  @IsOptional()
  @Validate(TimeZoneConstraint)
  timezone?: string;
}

export class FailbackPolicyDto {
  @ApiProperty({ enum: FAILBACK_MODES, default: 'manual' })
  @IsIn(FAILBACK_MODES)
  mode: FailbackMode;

  @ApiPropertyOptional({
    type: FailbackWindowDto,
    nullable: true,
    description: 'automatic: when the detector may fail back (required with automatic)',
  })
  @IsOptional()
  @IsObject()
  @ValidateNested()
  @Type(() => FailbackWindowDto)
  window?: FailbackWindowDto | null;

  @ApiPropertyOptional({
    example: 0,
    default: 0,
    description: 'The old production counts as resynced when its agent reports at most this lag (seconds)',
  })
  @IsOptional()
  @IsInt()
  @Min(0)
  @Max(86_400)
  maxLagSeconds?: number;
}

@ValidatorConstraint({ name: 'alertFailoverNames' })
class AlertFailoverNamesConstraint implements ValidatorConstraintInterface {
  validate(failover: unknown, args: ValidationArguments): boolean {
    const names = (args.object as AlertPolicyDto).names;
    return failover !== true || (Array.isArray(names) && names.length > 0);
  }
  defaultMessage(): string {
    return 'names must name at least one alert when failover is true';
  }
}

export class AlertPolicyDto {
  @ApiProperty({
    default: false,
    description:
      'true: a firing alert named in `names` about the active node fails the scenario over on its own (automatic mode only)',
  })
  @IsBoolean()
  @Validate(AlertFailoverNamesConstraint)
  failover: boolean;

  @ApiPropertyOptional({
    type: [String],
    example: ['PostgresDown'],
    description: 'alert names (alertname) that may fail the scenario over; required with failover true',
  })
  @IsOptional()
  @IsArray()
  @ArrayMaxSize(32)
  @IsString({ each: true })
  @MinLength(1, { each: true })
  @MaxLength(256, { each: true })
  names: string[];
}

export class VerifyClientsDto {
  @ApiProperty({
    type: [String],
    example: ['10.0.0.53:53', '[2001:db8::53]:53'],
    description: 'Recursive resolvers users ask (IP[:port], port 53 by default)',
  })
  @IsArray()
  @ArrayMinSize(1)
  @ArrayMaxSize(8)
  @IsString({ each: true })
  @MaxLength(64, { each: true })
  resolvers: string[];

  @ApiPropertyOptional({ type: ClientProbeDto, nullable: true })
  @IsOptional()
  @IsObject()
  @ValidateNested()
  @Type(() => ClientProbeDto)
  probe?: ClientProbeDto | null;

  @ApiPropertyOptional({
    example: 2000,
    default: 2000,
    description: 'A resolver still not answering the new address after TTL + this margin raises a warning',
  })
  @IsOptional()
  @IsInt()
  @Min(0)
  @Max(600_000)
  marginMs?: number;

  @ApiPropertyOptional({
    example: 10000,
    default: 10000,
    description: 'After the warning, keep watching this long, then give up (the failover still succeeds)',
  })
  @IsOptional()
  @IsInt()
  @Min(0)
  @Max(3_600_000)
  graceMs?: number;
}

export class PolicyDto {
  @ApiPropertyOptional({ example: 60000, description: 'No automatic failover for this long after one' })
  @IsOptional()
  @IsInt()
  @Min(0)
  @Max(86_400_000)
  holdDownMs?: number;

  @ApiPropertyOptional({ example: 3000, description: 'Self-fencing lease of the agents' })
  @IsOptional()
  @IsInt()
  @Min(500)
  @Max(600_000)
  leaseMs?: number;

  @ApiPropertyOptional({ example: 500 })
  @IsOptional()
  @IsInt()
  @Min(0)
  @Max(60_000)
  leaseMarginMs?: number;

  @ApiPropertyOptional({
    example: 30,
    nullable: true,
    description: 'Refuse a replica lagging more (seconds)',
  })
  @IsOptional()
  @IsInt()
  @Min(0)
  maxLagSeconds?: number | null;

  @ApiPropertyOptional({ example: 1, description: 'Replica agents that must also have lost production' })
  @IsOptional()
  @IsInt()
  @Min(0)
  @Max(16)
  peerQuorum?: number;

  @ApiPropertyOptional({ example: 10000, description: 'Hold-down before a failed node counts as recovered' })
  @IsOptional()
  @IsInt()
  @Min(0)
  @Max(3_600_000)
  recoveryHoldMs?: number;

  @ApiPropertyOptional({
    example: 5000,
    description:
      "How long the old production's agent may take to answer demote before it counts as unreachable",
  })
  @IsOptional()
  @IsInt()
  @Min(500)
  @Max(600_000)
  fenceTimeoutMs?: number;

  @ApiPropertyOptional({
    default: true,
    description:
      "Fence an unreachable old production by lease expiry only if its agent reported an armed watchdog (or a fencing hook succeeded). false trusts the agent's self-demotion alone, which a frozen agent cannot do",
  })
  @IsOptional()
  @IsBoolean()
  requireWatchdog?: boolean;

  @ApiPropertyOptional({ type: FencingHookDto, nullable: true })
  @IsOptional()
  @IsObject()
  @ValidateNested()
  @Type(() => FencingHookDto)
  fencingHook?: FencingHookDto | null;

  @ApiPropertyOptional({
    example: { tier: 'gold' },
    description: 'A promotion target must carry all these node labels (a forced failover may override)',
  })
  @IsOptional()
  @IsObject()
  @Validate(LabelsConstraint)
  requiredLabels?: Record<string, string>;

  @ApiPropertyOptional({
    example: { site: 'paris' },
    description:
      'Among eligible replicas, those carrying all these labels are promoted first (then replica order)',
  })
  @IsOptional()
  @IsObject()
  @Validate(LabelsConstraint)
  preferredLabels?: Record<string, string>;

  @ApiPropertyOptional({
    default: true,
    description:
      "false: a failover only promotes a node with the old active node's `site` label (a forced failover may override)",
  })
  @IsOptional()
  @IsBoolean()
  allowCrossSite?: boolean;

  @ApiPropertyOptional({
    type: VerifyClientsDto,
    nullable: true,
    description: 'Client-moved verification after DNS is updated (step verify-clients); null turns it off',
  })
  @IsOptional()
  @IsObject()
  @ValidateNested()
  @Type(() => VerifyClientsDto)
  verifyClients?: VerifyClientsDto | null;

  @ApiPropertyOptional({
    type: FailbackPolicyDto,
    description:
      'manual (default): an operator fails back. automatic: in a window, once the old production is healthy and resynced',
  })
  @IsOptional()
  @IsObject()
  @ValidateNested()
  @Type(() => FailbackPolicyDto)
  failback?: FailbackPolicyDto;

  @ApiPropertyOptional({
    type: AlertPolicyDto,
    nullable: true,
    description:
      'External alerts: always a vote against their node; with failover true, the named ones fail the scenario over on their own',
  })
  @IsOptional()
  @IsObject()
  @ValidateNested()
  @Type(() => AlertPolicyDto)
  alerts?: AlertPolicyDto | null;
}

export class CreateScenarioDto {
  @ApiProperty({ example: 'orders-db' })
  @IsString()
  @Matches(NAME_PATTERN, { message: 'name must be lower-case letters, digits and dashes (max 63)' })
  name: string;

  @ApiProperty({ description: 'Node serving users now' })
  @IsUUID()
  productionNodeId: string;

  @ApiProperty({ type: [String], description: 'Replica nodes, preferred failover target first' })
  @IsArray()
  @ArrayMinSize(1)
  @ArrayMaxSize(8)
  @ArrayUnique()
  @IsUUID('all', { each: true })
  replicaNodeIds: string[];

  @ApiProperty({ type: [DnsRecordDto] })
  @IsArray()
  @ArrayMaxSize(16)
  @IsObject({ each: true, message: '$property must be a list of objects' })
  @ValidateNested({ each: true })
  @Type(() => DnsRecordDto)
  dnsRecords: DnsRecordDto[];

  @ApiPropertyOptional({ enum: FAILOVER_MODES, default: 'manual' })
  @IsOptional()
  @IsIn(FAILOVER_MODES)
  failoverMode?: FailoverMode;

  @ApiPropertyOptional({ type: [CheckDto], description: 'Defaults to one heartbeat check (TTL 3 s)' })
  @IsOptional()
  @IsArray()
  @ArrayMaxSize(32)
  @IsObject({ each: true, message: '$property must be a list of objects' })
  @ValidateNested({ each: true })
  @Type(() => CheckDto)
  checks?: CheckDto[];

  @ApiPropertyOptional({ type: PolicyDto })
  @IsOptional()
  @IsObject()
  @ValidateNested()
  @Type(() => PolicyDto)
  policy?: PolicyDto;

  @ApiPropertyOptional({
    example: '0 30 3 * * *',
    nullable: true,
    description: 'Assured Recovery schedule (cron, optional seconds field); null = no scheduled AR test',
  })
  @IsOptional()
  @IsCronExpression()
  arSchedule?: string | null;

  @ApiPropertyOptional({
    default: false,
    description: 'AR tests take a replica snapshot (ar-snapshot) by default',
  })
  @IsOptional()
  @IsBoolean()
  arSnapshot?: boolean;
}

export class UpdateScenarioDto extends PartialType(OmitType(CreateScenarioDto, ['name'] as const)) {}

export class ListScenariosQuery extends PaginationQuery {
  @ApiPropertyOptional({ enum: SCENARIO_STATES })
  @IsOptional()
  @IsIn(SCENARIO_STATES)
  state?: ScenarioState;

  @ApiPropertyOptional({ description: 'Only members of this group' })
  @IsOptional()
  @IsUUID()
  groupId?: string;

  @ApiPropertyOptional({ description: 'Only scenarios using this node' })
  @IsOptional()
  @IsUUID()
  nodeId?: string;

  @ApiPropertyOptional({ example: 'site=paris', description: 'Production node label key=value' })
  @IsOptional()
  @IsString()
  @Matches(/^[^=]{1,63}=.{0,128}$/, { message: 'label must be key=value' })
  label?: string;
}

/** Most scenarios one bulk request may create, start or stop. */
export const MAX_BULK_SCENARIOS = 1000;

export class BulkCreateScenariosDto {
  @ApiProperty({
    type: [CreateScenarioDto],
    description: `1 to ${MAX_BULK_SCENARIOS} scenarios, created together or not at all`,
  })
  @IsArray()
  @ArrayMinSize(1)
  @ArrayMaxSize(MAX_BULK_SCENARIOS)
  @IsObject({ each: true, message: '$property must be a list of objects' })
  @ValidateNested({ each: true })
  @Type(() => CreateScenarioDto)
  scenarios: CreateScenarioDto[];
}

export class ScenarioView {
  @ApiProperty() id: string;
  @ApiProperty() name: string;
  @ApiProperty() productionNodeId: string;
  @ApiProperty({ type: [String] }) replicaNodeIds: string[];
  @ApiProperty() activeNodeId: string;
  @ApiProperty({ type: [DnsRecordDto] }) dnsRecords: DnsRecordDto[];
  @ApiProperty({ enum: FAILOVER_MODES }) failoverMode: FailoverMode;
  @ApiProperty({ type: [CheckDto] }) checks: CheckDto[];
  @ApiProperty({ type: PolicyDto }) policy: PolicyDto;
  @ApiProperty({ enum: SCENARIO_STATES }) state: ScenarioState;
  @ApiProperty() epoch: number;
  @ApiProperty({ nullable: true }) arSchedule: string | null;
  @ApiProperty() arSnapshot: boolean;
  @ApiProperty({ nullable: true }) holdUntil: Date | null;
  @ApiProperty() createdAt: Date;
  @ApiProperty() updatedAt: Date;
}

export class BulkScenariosView {
  @ApiProperty({ type: [ScenarioView], description: 'in the order of the request' })
  items: ScenarioView[];
}
