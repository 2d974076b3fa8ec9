import { DryRun } from '../../operations/dtos/operation.dto';
import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { IsBoolean, IsNotEmpty, IsOptional, IsString, IsUUID, MaxLength } from 'class-validator';

export class ArTestDto {
  @ApiProperty({ example: 'quarterly recovery drill', description: 'Why (written to the audit log)' })
  @IsString()
  @IsNotEmpty()
  @MaxLength(1024)
  reason: string;

  @ApiPropertyOptional({ description: 'Replica to test (default: the first replica); never the active node' })
  @IsOptional()
  @IsUUID()
  targetNodeId?: string;

  @ApiPropertyOptional({
    description: "Take a snapshot of the replica copy (default: the scenario's arSnapshot)",
  })
  @IsOptional()
  @IsBoolean()
  snapshot?: boolean;

  @DryRun()
  dryRun?: boolean;
}

export interface ArResultView {
  operationId: string;
  scenarioId: string | null;
  state: string;
  trigger: string;
  requestedBy: string;
  /** passed / failed (the check's verdict), aborted, or null when the machinery broke before a verdict */
  arResult: string | null;
  aborted: boolean;
  error: string | null;
  targetNodeId: string | null;
  epoch: number | null;
  checkOutput: string | null;
  createdAt: Date;
  startedAt: Date | null;
  finishedAt: Date | null;
  durationMs: number | null;
  steps: { name: string; state: string; durationMs: number | null }[];
}
