import { Body, Controller, Get, HttpCode, NotFoundException, Param, Post, Query } from '@nestjs/common';
import { ApiBearerAuth, ApiOperation, ApiResponse, ApiTags } from '@nestjs/swagger';
import { AlertSender, CurrentPrincipal, MinRole } from '../auth/auth.decorators';
import { actorOf, Principal } from '../auth/principal';
import { UuidParamPipe } from '../common/validation';
import { fromAlertmanager, fromGeneric } from './alert-mapping';
import { AlertsService } from './alerts.service';
import {
  AlertmanagerPayloadDto,
  AlertPage,
  AlertView,
  GenericAlertsDto,
  ListAlertsQuery,
  ReceiveAlertsResult,
} from './dtos/alert.dto';

@ApiTags('alerts')
@ApiBearerAuth()
@Controller('api/v1/alerts')
export class AlertsController {
  constructor(private readonly alerts: AlertsService) {}

  @Post('alertmanager')
  @HttpCode(200)
  @AlertSender()
  @MinRole('operator')
  @ApiOperation({
    summary:
      "Prometheus Alertmanager's webhook receiver (webhook_config url, bearer token of role alerter or operator): each alert is mapped to a node by its labels and, while firing, is one observer's vote against it",
  })
  @ApiResponse({ status: 200, type: ReceiveAlertsResult, description: 'what each alert was mapped to' })
  @ApiResponse({ status: 400, description: 'not an Alertmanager payload (the field is named)' })
  @ApiResponse({ status: 401, description: 'no or an invalid token' })
  alertmanager(
    @Body() dto: AlertmanagerPayloadDto,
    @CurrentPrincipal() p: Principal,
  ): Promise<ReceiveAlertsResult> {
    return this.alerts.receive('alertmanager', actorOf(p), dto.alerts.map(fromAlertmanager));
  }

  @Post()
  @HttpCode(200)
  @AlertSender()
  @MinRole('operator')
  @ApiOperation({
    summary:
      'Generic alert receiver: {"alerts":[{name, status firing|resolved, node or scenario, id?, severity?, summary?, labels?}]}',
  })
  @ApiResponse({ status: 200, type: ReceiveAlertsResult })
  @ApiResponse({ status: 400, description: 'malformed alert (the field is named)' })
  @ApiResponse({ status: 401, description: 'no or an invalid token' })
  generic(@Body() dto: GenericAlertsDto, @CurrentPrincipal() p: Principal): Promise<ReceiveAlertsResult> {
    return this.alerts.receive('generic', actorOf(p), dto.alerts.map(fromGeneric));
  }

  @Get()
  @MinRole('viewer')
  @ApiOperation({
    summary: 'Alerts received, most recently received first (filter by state, source, node, scenario)',
  })
  @ApiResponse({ status: 200, type: AlertPage })
  list(@Query() q: ListAlertsQuery): Promise<AlertPage> {
    return this.alerts.list(q);
  }

  @Get(':id')
  @MinRole('viewer')
  @ApiOperation({ summary: 'One alert' })
  @ApiResponse({ status: 200, type: AlertView })
  @ApiResponse({ status: 404, description: 'unknown alert' })
  async get(@Param('id', UuidParamPipe) id: string): Promise<AlertView> {
    const a = await this.alerts.get(id);
    if (!a) throw new NotFoundException(`alert ${id} not found`);
    return a;
  }
}
