import { Body, Controller, Get, HttpCode, Optional, Param, Post, Query, Res } from '@nestjs/common';
import type { FastifyReply } from 'fastify';
import { UuidParamPipe } from '../common/validation';
import { DomainError, InvalidInputError } from '../common/errors';
import { ApiBearerAuth, ApiOperation, ApiResponse, ApiTags } from '@nestjs/swagger';
import { CurrentPrincipal, MinRole } from '../auth/auth.decorators';
import { actorOf, Principal } from '../auth/principal';
import {
  FailoverDto,
  ListOperationsQuery,
  OperationReasonDto,
  SwitchoverDto,
  ActiveServerRecoveryDto,
  BulkOperationItem,
  BulkOperationView,
  BulkScenarioActionDto,
} from './dtos/operation.dto';
import { MaintenanceService } from '../maintenance/maintenance.service';
import { DecisionsService } from '../decisions/decisions.service';
import { OperationPlanner } from './operation-planner';
import { OperationRequest, OperationsService } from './operations.service';

const CONFLICT = {
  status: 409,
  description: 'another operation runs (body has its operationId), or wrong state',
};

@ApiTags('operations')
@ApiBearerAuth()
@Controller('api/v1')
export class OperationsController {
  constructor(
    private readonly operations: OperationsService,
    private readonly planner: OperationPlanner,
    @Optional() private readonly maintenance?: MaintenanceService,
    @Optional() private readonly decisions?: DecisionsService,
  ) {}

  /**
   * Start the operation (202), or with dryRun answer its plan (200) and change nothing. A manual
   * move of users is allowed during maintenance; the answer says which windows are active.
   */
  private async submit(req: OperationRequest, dryRun: boolean | undefined, res: FastifyReply, warn = true) {
    if (dryRun) {
      res.status(200);
      return this.planner.plan(req);
    }
    const view = await this.operations.request(req);
    if (!warn) return view;
    const warnings = (await this.maintenance?.warningsFor(req.scenarioId).catch(() => [])) ?? [];
    return warnings.length ? { ...view, warnings } : view;
  }

  @Post('scenarios/:id/failover')
  @HttpCode(202)
  @MinRole('operator')
  @ApiOperation({ summary: 'Manual failover: fence production, promote a replica, redirect DNS' })
  @ApiResponse({ status: 202, description: 'operation accepted; follow it at /api/v1/operations/{id}' })
  @ApiResponse(CONFLICT)
  failover(
    @Param('id', UuidParamPipe) id: string,
    @Body() dto: FailoverDto,
    @CurrentPrincipal() p: Principal,
    @Res({ passthrough: true }) res: FastifyReply,
  ) {
    return this.submit(
      {
        scenarioId: id,
        type: 'failover',
        trigger: 'manual',
        requestedBy: actorOf(p),
        reason: dto.reason,
        params: {
          ...(dto.targetNodeId && { targetNodeId: dto.targetNodeId }),
          force: dto.force === true,
          ...confirmFencedParam(dto),
        },
      },
      dto.dryRun,
      res,
    );
  }

  @Post('scenarios/:id/switchover')
  @HttpCode(202)
  @MinRole('operator')
  @ApiOperation({ summary: 'Planned switchover: both nodes healthy; production is demoted cleanly first' })
  @ApiResponse(CONFLICT)
  switchover(
    @Param('id', UuidParamPipe) id: string,
    @Body() dto: SwitchoverDto,
    @CurrentPrincipal() p: Principal,
    @Res({ passthrough: true }) res: FastifyReply,
  ) {
    return this.submit(
      {
        scenarioId: id,
        type: 'switchover',
        trigger: 'manual',
        requestedBy: actorOf(p),
        reason: dto.reason,
        params: { ...(dto.targetNodeId && { targetNodeId: dto.targetNodeId }) },
      },
      dto.dryRun,
      res,
    );
  }

  @Post('scenarios/:id/failback')
  @HttpCode(202)
  @MinRole('operator')
  @ApiOperation({
    summary: 'Failback: resync the original production from the active node, then switch back',
  })
  @ApiResponse(CONFLICT)
  failback(
    @Param('id', UuidParamPipe) id: string,
    @Body() dto: OperationReasonDto,
    @CurrentPrincipal() p: Principal,
    @Res({ passthrough: true }) res: FastifyReply,
  ) {
    return this.submit(
      { scenarioId: id, type: 'failback', trigger: 'manual', requestedBy: actorOf(p), reason: dto.reason },
      dto.dryRun,
      res,
    );
  }

  @Post('scenarios/:id/active-server-recovery')
  @HttpCode(202)
  @MinRole('operator')
  @ApiOperation({
    summary: 'Split state recovery: keep one node active, fence every other node, point DNS at it',
    description:
      'For a split state (alert `split-state`: several nodes act as production). The chosen node may be ' +
      'the current active one. Epoch bumped; every other node demoted with it.',
  })
  @ApiResponse(CONFLICT)
  activeServerRecovery(
    @Param('id', UuidParamPipe) id: string,
    @Body() dto: ActiveServerRecoveryDto,
    @CurrentPrincipal() p: Principal,
    @Res({ passthrough: true }) res: FastifyReply,
  ) {
    return this.submit(
      {
        scenarioId: id,
        type: 'active-server-recovery',
        trigger: 'manual',
        requestedBy: actorOf(p),
        reason: dto.reason,
        params: { targetNodeId: dto.activeNodeId, force: dto.force === true, ...confirmFencedParam(dto) },
      },
      dto.dryRun,
      res,
      false,
    );
  }

  @Post('scenarios/bulk/start')
  @HttpCode(202)
  @MinRole('operator')
  @ApiOperation({
    summary:
      'Start many scenarios at once (each as POST /scenarios/{id}/start; one refusal never blocks the others)',
  })
  @ApiResponse({ status: 202, type: BulkOperationView })
  async bulkStart(
    @Body() dto: BulkScenarioActionDto,
    @CurrentPrincipal() p: Principal,
  ): Promise<BulkOperationView> {
    return this.bulk(dto, 'start', actorOf(p), { force: dto.force === true });
  }

  @Post('scenarios/bulk/stop')
  @HttpCode(202)
  @MinRole('operator')
  @ApiOperation({ summary: 'Stop many scenarios at once (each as POST /scenarios/{id}/stop)' })
  @ApiResponse({ status: 202, type: BulkOperationView })
  async bulkStop(
    @Body() dto: BulkScenarioActionDto,
    @CurrentPrincipal() p: Principal,
  ): Promise<BulkOperationView> {
    return this.bulk(dto, 'stop', actorOf(p), {});
  }

  private async bulk(
    dto: BulkScenarioActionDto,
    type: 'start' | 'stop',
    actor: string,
    params: Record<string, unknown>,
  ): Promise<BulkOperationView> {
    const results = await this.operations.requestMany(
      dto.scenarioIds.map((scenarioId) => ({
        scenarioId,
        type,
        trigger: 'manual' as const,
        requestedBy: actor,
        reason: dto.reason,
        params,
      })),
      { batch: true },
    );
    const items = results.map((r, i): BulkOperationItem => {
      if ('operation' in r) return { scenarioId: dto.scenarioIds[i], operationId: r.operation.id };
      const e = r.error;
      // Others may have started already: an unexpected error is this scenario's answer, not a 500 for all.
      if (!(e instanceof DomainError)) {
        return {
          scenarioId: dto.scenarioIds[i],
          error: { status: 503, code: 'unavailable', message: 'could not start this operation now; retry' },
        };
      }
      return {
        scenarioId: dto.scenarioIds[i],
        error: { status: e.status, code: e.code, message: e.message },
      };
    });
    const accepted = items.filter((x) => x.operationId).length;
    return { accepted, refused: items.length - accepted, items };
  }

  @Post('scenarios/:id/start')
  @HttpCode(202)
  @MinRole('operator')
  @ApiOperation({ summary: 'Start protecting the scenario: DNS points at the active node, checks run' })
  @ApiResponse(CONFLICT)
  start(
    @Param('id', UuidParamPipe) id: string,
    @Body() dto: OperationReasonDto,
    @CurrentPrincipal() p: Principal,
    @Res({ passthrough: true }) res: FastifyReply,
  ) {
    return this.submit(
      {
        scenarioId: id,
        type: 'start',
        trigger: 'manual',
        requestedBy: actorOf(p),
        reason: dto.reason,
        params: { force: dto.force === true },
      },
      dto.dryRun,
      res,
      false,
    );
  }

  @Post('scenarios/:id/stop')
  @HttpCode(202)
  @MinRole('operator')
  @ApiOperation({ summary: 'Stop protecting the scenario (no automatic failover; DNS unchanged)' })
  @ApiResponse(CONFLICT)
  stop(
    @Param('id', UuidParamPipe) id: string,
    @Body() dto: OperationReasonDto,
    @CurrentPrincipal() p: Principal,
    @Res({ passthrough: true }) res: FastifyReply,
  ) {
    return this.submit(
      { scenarioId: id, type: 'stop', trigger: 'manual', requestedBy: actorOf(p), reason: dto.reason },
      dto.dryRun,
      res,
      false,
    );
  }

  @Get('operations')
  @MinRole('viewer')
  @ApiOperation({
    summary: 'List operations, newest first (filter by scenario, group, type, state, trigger)',
  })
  list(@Query() q: ListOperationsQuery) {
    return this.operations.list(q);
  }

  @Get('operations/:id')
  @MinRole('viewer')
  @ApiOperation({
    summary: 'One operation with its steps as a timeline, the decision that requested it and notes',
  })
  async get(@Param('id', UuidParamPipe) id: string) {
    const view = await this.operations.get(id);
    const notes = (await this.decisions?.notesOf('operation', [id]))?.get(id) ?? [];
    return { ...view, notes };
  }
}

/** confirmFenced only means something with force (it widens how an unreachable node may be fenced). */
function confirmFencedParam(dto: { force?: boolean; confirmFenced?: boolean }): { confirmFenced?: true } {
  if (dto.confirmFenced !== true) return {};
  if (dto.force !== true) throw new InvalidInputError('confirmFenced needs force: true', 'confirmFenced');
  return { confirmFenced: true };
}
