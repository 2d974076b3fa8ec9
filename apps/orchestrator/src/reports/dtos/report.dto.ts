import { ApiPropertyOptional } from '@nestjs/swagger';
import { Transform } from 'class-transformer';
import {
  ArrayMaxSize,
  IsIn,
  IsISO8601,
  IsOptional,
  IsString,
  IsUUID,
  Matches,
  MaxLength,
} from 'class-validator';
import { EVENT_KINDS } from '../../detection/event.entity';

export class PeriodQuery {
  @ApiPropertyOptional({ example: '2026-11-01T00:00:00Z', description: 'ISO 8601, inclusive' })
  @IsOptional()
  @IsISO8601({ strict: true })
  since?: string;

  @ApiPropertyOptional({ example: '2026-12-01T00:00:00Z', description: 'ISO 8601, exclusive; default now' })
  @IsOptional()
  @IsISO8601({ strict: true })
  until?: string;
}

export class AuditExportQuery extends PeriodQuery {
  @ApiPropertyOptional({ example: 'noc-dashboard', description: 'token name, agent:<node> or system' })
  @IsOptional()
  @IsString()
  @MaxLength(128)
  actor?: string;

  @ApiPropertyOptional({ example: 'scenario.update' })
  @IsOptional()
  @IsString()
  @MaxLength(64)
  action?: string;

  @ApiPropertyOptional({ example: 'scenario' })
  @IsOptional()
  @Matches(/^[a-z][a-z0-9_-]{0,31}$/, {
    message: 'targetType must be 1-32 lower-case letters, digits, _ or -',
  })
  targetType?: string;

  @ApiPropertyOptional({ example: '5d0c2a4e-9b7f-4c1a-8e3d-2f6a7b8c9d01' })
  @IsOptional()
  @IsString()
  @MaxLength(64)
  targetId?: string;
}

export class EventsExportQuery extends PeriodQuery {
  @ApiPropertyOptional()
  @IsOptional()
  @IsUUID()
  scenarioId?: string;

  @ApiPropertyOptional()
  @IsOptional()
  @IsUUID()
  nodeId?: string;

  @ApiPropertyOptional({ description: 'comma-separated event kinds', example: 'operation-failed,alert' })
  @IsOptional()
  @Transform(({ value }: { value: unknown }) =>
    typeof value === 'string' ? value.split(',').map((k) => k.trim()) : value,
  )
  @ArrayMaxSize(EVENT_KINDS.length)
  @IsIn(EVENT_KINDS, { each: true })
  kinds?: string[];
}

export class AvailabilityQuery extends PeriodQuery {
  @ApiPropertyOptional({ description: 'one scenario (default: all)' })
  @IsOptional()
  @IsUUID()
  scenarioId?: string;

  @ApiPropertyOptional({ enum: ['json', 'csv'], default: 'json' })
  @IsOptional()
  @IsIn(['json', 'csv'])
  format?: 'json' | 'csv';
}
