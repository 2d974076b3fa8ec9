import { applyDecorators } from '@nestjs/common';
import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import {
  ArrayMaxSize,
  ArrayMinSize,
  ArrayUnique,
  IsArray,
  IsBoolean,
  IsIn,
  IsNotEmpty,
  IsOptional,
  IsString,
  IsUUID,
  MaxLength,
} from 'class-validator';
import { PaginationQuery } from '../../common/dtos/pagination.dto';
import { OPERATION_STATES, OPERATION_TYPES } from '../operation.entity';

/** force + confirmFenced: the operator vouches the old production is down (failover, active-server recovery). */
/** force on a recovery: unreachable nodes may be fenced through the hook or by their lease. */
export const ForceFence = () =>
  applyDecorators(
    ApiPropertyOptional({
      default: false,
      description: 'Fence unreachable nodes through the fencing hook or by waiting out their lease',
    }),
    IsOptional(),
    IsBoolean(),
  );

export const ConfirmFenced = () =>
  applyDecorators(
    ApiPropertyOptional({
      default: false,
      description:
        "With force: the operator confirms the old production is powered off or isolated (like Pacemaker's stonith_admin --confirm), so lease expiry may fence it although its agent reported no armed watchdog. Audited with the reason",
    }),
    IsOptional(),
    IsBoolean(),
  );

/** dryRun: answer the plan (200) instead of starting the operation (202); nothing is changed. */
export const DryRun = () =>
  applyDecorators(
    ApiPropertyOptional({
      default: false,
      description:
        'Return the plan instead of starting: steps in order, the target and why, how each node would be fenced, ' +
        'and every rule that would refuse it. Changes nothing (no epoch bump, no audit entry, no DNS change)',
    }),
    IsOptional(),
    IsBoolean(),
  );

export class FailoverDto {
  @ApiProperty({
    example: 'db1 power loss confirmed by NOC ticket 4711',
    description: 'Why (written to the audit log)',
  })
  @IsString()
  @IsNotEmpty()
  @MaxLength(1024)
  reason: string;

  @ApiPropertyOptional({ description: 'Replica to promote (default: first available in order)' })
  @IsOptional()
  @IsUUID()
  targetNodeId?: string;

  @ApiPropertyOptional({
    default: false,
    description: 'Production agent unreachable: fence through the fencing hook or by waiting out its lease',
  })
  @IsOptional()
  @IsBoolean()
  force?: boolean;

  @ConfirmFenced()
  confirmFenced?: boolean;

  @DryRun()
  dryRun?: boolean;
}

export class SwitchoverDto {
  @ApiProperty({ example: 'planned maintenance of db1' })
  @IsString()
  @IsNotEmpty()
  @MaxLength(1024)
  reason: string;

  @ApiPropertyOptional()
  @IsOptional()
  @IsUUID()
  targetNodeId?: string;

  @DryRun()
  dryRun?: boolean;
}

export class ReasonDto {
  @ApiProperty({ example: 'db1 repaired' })
  @IsString()
  @IsNotEmpty()
  @MaxLength(1024)
  reason: string;

  @ApiPropertyOptional({ default: false, description: 'start: skip the agent reachability check' })
  @IsOptional()
  @IsBoolean()
  force?: boolean;
}

/** failback, start, stop of one scenario */
export class OperationReasonDto extends ReasonDto {
  @DryRun()
  dryRun?: boolean;
}

export class BulkScenarioActionDto extends ReasonDto {
  @ApiProperty({ type: [String], description: 'Scenario ids (1 to 1000, no duplicates)' })
  @IsArray()
  @ArrayMinSize(1)
  @ArrayMaxSize(1000)
  @ArrayUnique()
  @IsUUID('all', { each: true })
  scenarioIds: string[];
}

export class BulkOperationItem {
  @ApiProperty() scenarioId: string;
  @ApiPropertyOptional({ description: 'the operation started for this scenario' })
  operationId?: string;
  @ApiPropertyOptional({ description: 'why no operation was started: { status, code, message }' })
  error?: { status: number; code: string; message: string };
}

export class BulkOperationView {
  @ApiProperty({ description: 'operations started' }) accepted: number;
  @ApiProperty({ description: 'scenarios refused (see each item)' }) refused: number;
  @ApiProperty({ type: [BulkOperationItem], description: 'one per scenario, in the order of the request' })
  items: BulkOperationItem[];
}

export class ListOperationsQuery extends PaginationQuery {
  @ApiPropertyOptional()
  @IsOptional()
  @IsUUID()
  scenarioId?: string;

  @ApiPropertyOptional({ description: 'Only operations created by this group action' })
  @IsOptional()
  @IsUUID()
  groupId?: string;

  @ApiPropertyOptional({ enum: OPERATION_TYPES })
  @IsOptional()
  @IsIn(OPERATION_TYPES)
  type?: string;

  @ApiPropertyOptional({ enum: OPERATION_STATES })
  @IsOptional()
  @IsIn(OPERATION_STATES)
  state?: string;

  @ApiPropertyOptional({ enum: ['auto', 'manual'] })
  @IsOptional()
  @IsIn(['auto', 'manual'])
  trigger?: string;
}

export class ActiveServerRecoveryDto {
  @ApiProperty({ example: 'INC-77: both sites took writes after the partition; db-paris-1 keeps them' })
  @IsString()
  @IsNotEmpty()
  @MaxLength(1024)
  reason: string;

  @ApiProperty({ description: 'The node that stays (or becomes) active; every other node is fenced' })
  @IsUUID()
  activeNodeId: string;

  @ForceFence()
  force?: boolean;

  @ConfirmFenced()
  confirmFenced?: boolean;

  @DryRun()
  dryRun?: boolean;
}
