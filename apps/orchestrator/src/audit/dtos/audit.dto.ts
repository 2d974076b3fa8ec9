import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { IsOptional, IsString, Matches, MaxLength } from 'class-validator';
import { PaginationQuery } from '../../common/dtos/pagination.dto';

export class ListAuditQuery extends PaginationQuery {
  @ApiPropertyOptional({ example: 'scenario', description: 'node, scenario, group, token, operation, ...' })
  @IsOptional()
  @IsString()
  @Matches(/^[a-z][a-z0-9_-]{0,31}$/, {
    message: 'targetType must be 1-32 lower-case letters, digits, _ or -',
  })
  targetType?: string;

  @ApiPropertyOptional({ example: '5d0c2a4e-9b7f-4c1a-8e3d-2f6a7b8c9d01' })
  @IsOptional()
  @IsString()
  @MaxLength(64)
  targetId?: string;

  @ApiPropertyOptional({ example: 'noc-dashboard', description: 'Token name, agent:<node> or system' })
  @IsOptional()
  @IsString()
  @MaxLength(128)
  actor?: string;

  @ApiPropertyOptional({ example: 'scenario.update' })
  @IsOptional()
  @IsString()
  @MaxLength(64)
  action?: string;
}

export class AuditEntryView {
  @ApiProperty({ example: '42', description: 'Increasing entry number (a string: it is a bigint)' })
  id: string;
  @ApiProperty({ example: '2025-01-31T12:00:00.000Z' }) at: Date;
  @ApiProperty({ example: 'noc-dashboard', description: 'Token name, agent:<node> or system' }) actor: string;
  @ApiProperty({ example: 'scenario.update' }) action: string;
  @ApiProperty({ example: 'scenario' }) targetType: string;
  @ApiProperty({ example: '5d0c2a4e-9b7f-4c1a-8e3d-2f6a7b8c9d01', nullable: true, type: String })
  targetId: string | null;
  @ApiProperty({ example: 'planned maintenance', nullable: true, type: String }) reason: string | null;
  @ApiProperty({ example: { fields: ['failoverMode'] }, type: 'object', additionalProperties: true })
  details: Record<string, unknown>;
  @ApiProperty({ example: 'b3a1c2d4-e5f6-4789-a0b1-c2d3e4f5a6b7', nullable: true, type: String })
  requestId: string | null;
}

export class AuditPage {
  @ApiProperty({ type: [AuditEntryView] }) items: AuditEntryView[];
  @ApiProperty({ example: 1 }) total: number;
  @ApiProperty({ example: 50 }) limit: number;
  @ApiProperty({ example: 0 }) offset: number;
}
