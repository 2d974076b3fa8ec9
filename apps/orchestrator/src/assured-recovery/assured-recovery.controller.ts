import { Body, Controller, Get, HttpCode, Param, Post, Query, Res } from '@nestjs/common';
import type { FastifyReply } from 'fastify';
import { UuidParamPipe } from '../common/validation';
import { ApiBearerAuth, ApiOperation, ApiQuery, ApiResponse, ApiTags } from '@nestjs/swagger';
import { CurrentPrincipal, MinRole } from '../auth/auth.decorators';
import { actorOf, Principal } from '../auth/principal';
import { InvalidInputError } from '../common/errors';
import { AssuredRecoveryService } from './assured-recovery.service';
import { ArTestDto } from './dtos/ar-test.dto';

@ApiTags('assured-recovery')
@ApiBearerAuth()
@Controller('api/v1/scenarios')
export class AssuredRecoveryController {
  constructor(private readonly ar: AssuredRecoveryService) {}

  @Post(':id/ar-test')
  @HttpCode(202)
  @MinRole('operator')
  @ApiOperation({
    summary:
      'Assured Recovery test on one replica: suspend apply, start the app, run ar-check, optional snapshot, rewind, resume. Production and DNS are not touched.',
  })
  @ApiResponse({ status: 202, description: 'operation accepted; follow it at /api/v1/operations/{id}' })
  @ApiResponse({ status: 400, description: 'targetNodeId is the active node or not a replica' })
  @ApiResponse({ status: 409, description: 'scenario not running, or another operation runs' })
  test(
    @Param('id', UuidParamPipe) id: string,
    @Body() dto: ArTestDto,
    @CurrentPrincipal() p: Principal,
    @Res({ passthrough: true }) res: FastifyReply,
  ) {
    const req = {
      scenarioId: id,
      trigger: 'manual' as const,
      requestedBy: actorOf(p),
      reason: dto.reason,
      targetNodeId: dto.targetNodeId,
      snapshot: dto.snapshot,
    };
    if (dto.dryRun) {
      res.status(200);
      return this.ar.planTest(req);
    }
    return this.ar.requestTest(req);
  }

  @Get(':id/ar-results')
  @MinRole('viewer')
  @ApiOperation({ summary: 'Recent AR tests of the scenario, newest first: result, replica, durations' })
  @ApiQuery({ name: 'limit', required: false, example: 20 })
  results(@Param('id', UuidParamPipe) id: string, @Query('limit') limit?: string) {
    const n = limit === undefined ? 20 : Number(limit);
    if (!Number.isInteger(n) || n < 1 || n > 200)
      throw new InvalidInputError('limit must be an integer from 1 to 200', 'limit');
    return this.ar.results(id, n);
  }
}
