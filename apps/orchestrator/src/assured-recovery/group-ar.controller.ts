import { Body, Controller, Get, HttpCode, Param, Post, Query } from '@nestjs/common';
import {
  ApiBearerAuth,
  ApiOperation,
  ApiProperty,
  ApiPropertyOptional,
  ApiResponse,
  ApiTags,
  PickType,
} from '@nestjs/swagger';
import { IsBoolean, IsInt, IsNotEmpty, IsOptional, IsString, Max, MaxLength, Min } from 'class-validator';
import { CurrentPrincipal, MinRole } from '../auth/auth.decorators';
import { actorOf, Principal } from '../auth/principal';
import { PaginationQuery } from '../common/dtos/pagination.dto';
import { UuidParamPipe } from '../common/validation';
import { ArResultDto, GroupArRunPage, GroupArRunView } from './dtos/group-ar.dto';
import { DEFAULT_GROUP_AR_PARALLEL, GroupArService } from './group-ar.service';

export const MAX_GROUP_AR_PARALLEL = 50;

export class GroupArTestDto {
  @ApiProperty({
    example: 'quarterly recovery drill, Paris site',
    description: 'Why (audit log, every member test)',
  })
  @IsString()
  @IsNotEmpty()
  @MaxLength(1024)
  reason: string;

  @ApiPropertyOptional({
    default: DEFAULT_GROUP_AR_PARALLEL,
    minimum: 1,
    maximum: MAX_GROUP_AR_PARALLEL,
    description: 'member tests running at once at most',
  })
  @IsOptional()
  @IsInt()
  @Min(1)
  @Max(MAX_GROUP_AR_PARALLEL)
  maxParallel?: number;

  @ApiPropertyOptional({
    description: "Take a snapshot of each replica copy (default: each scenario's arSnapshot)",
  })
  @IsOptional()
  @IsBoolean()
  snapshot?: boolean;
}

export class GroupArResultsQuery extends PickType(PaginationQuery, ['limit'] as const) {}

@ApiTags('assured-recovery')
@ApiBearerAuth()
@Controller('api/v1/groups')
export class GroupArController {
  constructor(private readonly runs: GroupArService) {}

  @Post(':id/ar-test')
  @HttpCode(202)
  @MinRole('operator')
  @ApiOperation({
    summary:
      "AR test of every member's replica, at most maxParallel at a time, one report (GET …/ar-runs/{runId}); members that cannot be tested are refused with the reason",
  })
  @ApiResponse({ status: 202, type: GroupArRunView, description: 'the run, with the members started so far' })
  @ApiResponse({ status: 400, description: 'reason missing, maxParallel out of range' })
  @ApiResponse({ status: 404, description: 'unknown group' })
  @ApiResponse({
    status: 409,
    description: 'the group has no members, or an AR run of it is already running',
  })
  start(
    @Param('id', UuidParamPipe) id: string,
    @Body() dto: GroupArTestDto,
    @CurrentPrincipal() p: Principal,
  ) {
    return this.runs.start({
      groupId: id,
      reason: dto.reason,
      requestedBy: actorOf(p),
      maxParallel: dto.maxParallel,
      snapshot: dto.snapshot,
    });
  }

  @Get(':id/ar-runs')
  @MinRole('viewer')
  @ApiOperation({ summary: 'Group AR runs, newest first, each with its members and results' })
  @ApiResponse({ status: 200, type: GroupArRunPage })
  @ApiResponse({ status: 404, description: 'unknown group' })
  list(@Param('id', UuidParamPipe) id: string, @Query() q: PaginationQuery) {
    return this.runs.list(id, q.limit, q.offset);
  }

  @Get(':id/ar-runs/:runId')
  @MinRole('viewer')
  @ApiOperation({
    summary: "One group AR run: state, counts by result, each member's test with its steps and durations",
  })
  @ApiResponse({ status: 200, type: GroupArRunView })
  @ApiResponse({ status: 404, description: 'unknown group or run' })
  get(@Param('id', UuidParamPipe) id: string, @Param('runId', UuidParamPipe) runId: string) {
    return this.runs.get(id, runId);
  }

  @Get(':id/ar-results')
  @MinRole('viewer')
  @ApiOperation({ summary: "AR history of the group: every member's AR tests, newest first" })
  @ApiResponse({ status: 200, type: [ArResultDto] })
  @ApiResponse({ status: 404, description: 'unknown group' })
  results(@Param('id', UuidParamPipe) id: string, @Query() q: GroupArResultsQuery) {
    return this.runs.groupResults(id, q.limit);
  }
}
