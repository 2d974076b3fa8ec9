import { ApiPropertyOptional, IntersectionType, OmitType, PickType } from '@nestjs/swagger';
import { IsIn, IsISO8601, IsOptional, IsUUID } from 'class-validator';
import { ListAuditQuery } from '../../audit/dtos/audit.dto';
import { EventStreamQuery } from '../../events/event-stream.controller';

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

/** The audit list's filters (actor, action, target), over a period. */
export class AuditExportQuery extends IntersectionType(
  PeriodQuery,
  OmitType(ListAuditQuery, ['limit', 'offset']),
) {}

/** The live stream's filters (scenario, node, kinds), over a period. */
export class EventsExportQuery extends IntersectionType(
  PeriodQuery,
  PickType(EventStreamQuery, ['scenarioId', 'nodeId', 'kinds']),
) {}

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

/** AR tests over a period, of one scenario or of one group's members (not both). */
export class ArExportQuery extends PeriodQuery {
  @ApiPropertyOptional({ description: 'one scenario' })
  @IsOptional()
  @IsUUID()
  scenarioId?: string;

  @ApiPropertyOptional({ description: "one group's member scenarios" })
  @IsOptional()
  @IsUUID()
  groupId?: string;
}
