import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import {
  IsIn,
  IsInt,
  IsISO8601,
  IsNotEmpty,
  IsOptional,
  IsString,
  IsUUID,
  Max,
  MaxLength,
  Min,
} from 'class-validator';
import { PaginationQuery } from '../../common/dtos/pagination.dto';
import { MAINTENANCE_SCOPES, MaintenanceScope } from '../maintenance-window.entity';

/** The longest a window may last: a forgotten window must not switch automatic failover off for good. */
export const MAX_WINDOW_SECONDS = 30 * 86_400;

/** Why, and the (new) end: endsAt, or durationSeconds from startsAt (create) or from now (extend). */
export class ExtendMaintenanceDto {
  @ApiProperty({ example: 'kernel upgrade of db1, change CHG-1234' })
  @IsString()
  @IsNotEmpty()
  @MaxLength(1024)
  reason: string;

  @ApiPropertyOptional({ description: 'ISO 8601 end; give this or durationSeconds' })
  @IsOptional()
  @IsISO8601({ strict: true })
  endsAt?: string;

  @ApiPropertyOptional({
    description: 'seconds from startsAt (create) or from now (extend); give this or endsAt',
    maximum: MAX_WINDOW_SECONDS,
  })
  @IsOptional()
  @IsInt()
  @Min(1)
  @Max(MAX_WINDOW_SECONDS)
  durationSeconds?: number;
}

export class CreateMaintenanceDto extends ExtendMaintenanceDto {
  @ApiProperty({ enum: MAINTENANCE_SCOPES })
  @IsIn(MAINTENANCE_SCOPES)
  scopeType: MaintenanceScope;

  @ApiProperty({ description: 'id of the node, scenario or group' })
  @IsUUID()
  scopeId: string;

  @ApiPropertyOptional({ description: 'ISO 8601; default now' })
  @IsOptional()
  @IsISO8601({ strict: true })
  startsAt?: string;
}

export class EndMaintenanceDto {
  @ApiProperty({ example: 'upgrade done' })
  @IsString()
  @IsNotEmpty()
  @MaxLength(1024)
  reason: string;
}

export const MAINTENANCE_STATES = ['scheduled', 'active', 'ended'] as const;
export type MaintenanceState = (typeof MAINTENANCE_STATES)[number];

export class ListMaintenanceQuery extends PaginationQuery {
  @ApiPropertyOptional({ enum: MAINTENANCE_STATES })
  @IsOptional()
  @IsIn(MAINTENANCE_STATES)
  state?: MaintenanceState;

  @ApiPropertyOptional({ enum: MAINTENANCE_SCOPES })
  @IsOptional()
  @IsIn(MAINTENANCE_SCOPES)
  scopeType?: MaintenanceScope;

  @ApiPropertyOptional()
  @IsOptional()
  @IsUUID()
  scopeId?: string;
}

export class MaintenanceView {
  @ApiProperty() id: string;
  @ApiProperty({ enum: MAINTENANCE_SCOPES }) scopeType: MaintenanceScope;
  @ApiProperty() scopeId: string;
  @ApiProperty({ description: 'name of the node, scenario or group' }) scopeName: string | null;
  @ApiProperty() reason: string;
  @ApiProperty({ enum: MAINTENANCE_STATES }) state: MaintenanceState;
  @ApiProperty() startsAt: Date;
  @ApiProperty() endsAt: Date;
  @ApiProperty() createdBy: string;
  @ApiProperty() createdAt: Date;
  @ApiProperty({ nullable: true }) endedEarlyAt: Date | null;
  @ApiProperty({ nullable: true }) endedBy: string | null;
}

export class MaintenanceImpact {
  @ApiProperty() scenarioId: string;
  @ApiProperty() scenarioName: string;
  @ApiProperty({ description: 'what the window does to this scenario', type: [String] })
  effects: string[];
}

export class MaintenanceResult {
  @ApiProperty({ type: MaintenanceView }) window: MaintenanceView;
  @ApiProperty({ type: [MaintenanceImpact] }) impact: MaintenanceImpact[];
  @ApiProperty({
    type: [String],
    description: 'e.g. a scenario left with no eligible replica while the window lasts',
  })
  warnings: string[];
}

export class MaintenancePage {
  @ApiProperty({ type: [MaintenanceView] }) items: MaintenanceView[];
  @ApiProperty() total: number;
  @ApiProperty() limit: number;
  @ApiProperty() offset: number;
}
