import { Body, Controller, Get, HttpCode, Param, Patch, Post, Query } from '@nestjs/common';
import { ApiBearerAuth, ApiOperation, ApiResponse, ApiTags } from '@nestjs/swagger';
import { CurrentPrincipal, MinRole } from '../auth/auth.decorators';
import { actorOf, Principal } from '../auth/principal';
import { UuidParamPipe } from '../common/validation';
import {
  CreateMaintenanceDto,
  EndMaintenanceDto,
  ExtendMaintenanceDto,
  ListMaintenanceQuery,
  MaintenancePage,
  MaintenanceResult,
  MaintenanceView,
} from './dtos/maintenance.dto';
import { MaintenanceService } from './maintenance.service';

@ApiTags('maintenance')
@ApiBearerAuth()
@Controller('api/v1/maintenance')
export class MaintenanceController {
  constructor(private readonly maintenance: MaintenanceService) {}

  @Post()
  @MinRole('operator')
  @ApiOperation({
    summary:
      'Open a maintenance window on a node, scenario or group: automatic failover suppressed, the node never a promotion target',
  })
  @ApiResponse({
    status: 201,
    type: MaintenanceResult,
    description: 'with the scenarios it touches and warnings',
  })
  @ApiResponse({ status: 400, description: 'no end, end before start, start in the past, unknown scopeId' })
  create(@Body() dto: CreateMaintenanceDto, @CurrentPrincipal() p: Principal): Promise<MaintenanceResult> {
    return this.maintenance.create(dto, actorOf(p));
  }

  @Get()
  @MinRole('viewer')
  @ApiOperation({ summary: 'List maintenance windows, newest start first (filter by state and scope)' })
  @ApiResponse({ status: 200, type: MaintenancePage })
  list(@Query() q: ListMaintenanceQuery): Promise<MaintenancePage> {
    return this.maintenance.list(q);
  }

  @Get(':id')
  @MinRole('viewer')
  @ApiOperation({ summary: 'One maintenance window' })
  @ApiResponse({ status: 200, type: MaintenanceView })
  @ApiResponse({ status: 404, description: 'unknown window' })
  get(@Param('id', UuidParamPipe) id: string): Promise<MaintenanceView> {
    return this.maintenance.getView(id);
  }

  @Patch(':id')
  @MinRole('operator')
  @ApiOperation({ summary: 'Move the end of a window that has not ended (extend or shorten)' })
  @ApiResponse({ status: 200, type: MaintenanceResult })
  @ApiResponse({ status: 404, description: 'unknown window' })
  @ApiResponse({ status: 409, description: 'the window has already ended' })
  extend(
    @Param('id', UuidParamPipe) id: string,
    @Body() dto: ExtendMaintenanceDto,
    @CurrentPrincipal() p: Principal,
  ): Promise<MaintenanceResult> {
    return this.maintenance.extend(id, dto, actorOf(p));
  }

  @Post(':id/end')
  @MinRole('operator')
  @HttpCode(200)
  @ApiOperation({ summary: 'End a window now (a scheduled one is cancelled)' })
  @ApiResponse({ status: 200, type: MaintenanceView })
  @ApiResponse({ status: 404, description: 'unknown window' })
  @ApiResponse({ status: 409, description: 'the window has already ended' })
  end(
    @Param('id', UuidParamPipe) id: string,
    @Body() dto: EndMaintenanceDto,
    @CurrentPrincipal() p: Principal,
  ): Promise<MaintenanceView> {
    return this.maintenance.end(id, dto.reason, actorOf(p));
  }
}
