import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { IsDateString, IsIn, IsNotEmpty, IsOptional, IsString, MaxLength } from 'class-validator';
import { PaginationQuery } from '../../common/dtos/pagination.dto';
import { DECISION_OUTCOMES, DECISION_RULES, DecisionOutcome, DecisionRule } from '../../detection/decision';

export class ListDecisionsQuery extends PaginationQuery {
  @ApiPropertyOptional({ description: 'only decisions taken at or after this time (ISO 8601)' })
  @IsOptional()
  @IsDateString({ strict: true })
  since?: string;

  @ApiPropertyOptional({ description: 'only decisions taken before this time (ISO 8601)' })
  @IsOptional()
  @IsDateString({ strict: true })
  until?: string;

  @ApiPropertyOptional({ enum: DECISION_OUTCOMES })
  @IsOptional()
  @IsIn(DECISION_OUTCOMES)
  outcome?: DecisionOutcome;

  @ApiPropertyOptional({ enum: DECISION_RULES })
  @IsOptional()
  @IsIn(DECISION_RULES)
  rule?: DecisionRule;
}

export class AddNoteDto {
  @ApiProperty({ example: 'INC-231: the hold-down was right, db1 flapped for 4 minutes' })
  @IsString()
  @IsNotEmpty()
  @MaxLength(4000)
  text: string;
}

export class NoteView {
  @ApiProperty() id: string;
  @ApiProperty() author: string;
  @ApiProperty() text: string;
  @ApiProperty() createdAt: Date;
}

export class DecisionView {
  @ApiProperty() id: string;
  @ApiProperty() scenarioId: string;
  @ApiProperty({ nullable: true, description: 'the active node the decision is about' }) nodeId:
    string | null;
  @ApiProperty() epoch: number;
  @ApiProperty({ enum: DECISION_OUTCOMES }) outcome: DecisionOutcome;
  @ApiProperty({ enum: DECISION_RULES, description: 'the rule that decided' }) rule: DecisionRule;
  @ApiProperty() message: string;
  @ApiProperty({ description: "the node's verdict, checks and each observer's latest view" })
  evidence: Record<string, unknown>;
  @ApiProperty({ description: 'TTLs, failure thresholds, peer quorum, hold-down, storm brake limits' })
  thresholds: Record<string, unknown>;
  @ApiProperty({ nullable: true, description: 'the operation it requested' }) operationId: string | null;
  @ApiProperty({ description: 'the orchestrator instance that decided' }) decidedBy: string;
  @ApiProperty() createdAt: Date;
  @ApiProperty({ type: [NoteView] }) notes: NoteView[];
}

export class DecisionPage {
  @ApiProperty({ type: [DecisionView] }) items: DecisionView[];
  @ApiProperty() total: number;
  @ApiProperty() limit: number;
  @ApiProperty() offset: number;
}
