import { Readable } from 'node:stream';
import { Controller, Get, Query, Res } from '@nestjs/common';
import { ApiBearerAuth, ApiOperation, ApiProduces, ApiResponse, ApiTags } from '@nestjs/swagger';
import { FastifyReply } from 'fastify';
import { MinRole } from '../auth/auth.decorators';
import { ArExportQuery, AuditExportQuery, AvailabilityQuery, EventsExportQuery } from './dtos/report.dto';
import { ReportsService } from './reports.service';

function sendCsv(reply: FastifyReply, filename: string, body: AsyncGenerator<string> | string): void {
  void reply
    .header('content-type', 'text/csv; charset=utf-8')
    .header('content-disposition', `attachment; filename="${filename}"`)
    .header('cache-control', 'no-store')
    .send(typeof body === 'string' ? body : Readable.from(body));
}

const stamp = () => new Date().toISOString().slice(0, 19).replace(/[-:]/g, '');

@ApiTags('reports')
@ApiBearerAuth()
@Controller('api/v1/reports')
export class ReportsController {
  constructor(private readonly reports: ReportsService) {}

  @Get('audit.csv')
  @MinRole('operator')
  @ApiProduces('text/csv')
  @ApiOperation({
    summary: 'The audit log as CSV, oldest first, streamed (filter by period, actor, action, target)',
  })
  @ApiResponse({
    status: 200,
    description: 'text/csv: id,at,actor,action,targetType,targetId,reason,requestId,details',
  })
  @ApiResponse({ status: 400, description: 'bad filter, since not before until' })
  audit(@Query() q: AuditExportQuery, @Res() reply: FastifyReply): void {
    const rows = this.reports.auditCsv(q);
    this.reports.track(reply.raw);
    sendCsv(reply, `audit-${stamp()}.csv`, rows);
  }

  @Get('events.csv')
  @MinRole('viewer')
  @ApiProduces('text/csv')
  @ApiOperation({
    summary: 'Events as CSV, oldest first, streamed (filter by period, scenario, node, kinds)',
  })
  @ApiResponse({
    status: 200,
    description: 'text/csv: id,at,kind,severity,scenarioId,nodeId,message,details',
  })
  @ApiResponse({ status: 400, description: 'bad filter, since not before until' })
  events(@Query() q: EventsExportQuery, @Res() reply: FastifyReply): void {
    const rows = this.reports.eventsCsv(q);
    this.reports.track(reply.raw);
    sendCsv(reply, `events-${stamp()}.csv`, rows);
  }

  @Get('ar.csv')
  @MinRole('viewer')
  @ApiProduces('text/csv')
  @ApiOperation({
    summary:
      'Assured Recovery tests as CSV, oldest first, streamed (filter by period, one scenario or one group)',
  })
  @ApiResponse({
    status: 200,
    description:
      'text/csv: operationId,scenarioId,scenario,createdAt,startedAt,finishedAt,durationMs,trigger,requestedBy,targetNodeId,targetNode,state,arResult,failure,reason,steps (name:state:ms;…)',
  })
  @ApiResponse({
    status: 400,
    description: 'bad filter, both scenarioId and groupId, since not before until',
  })
  @ApiResponse({ status: 404, description: 'unknown scenario or group' })
  async ar(@Query() q: ArExportQuery, @Res() reply: FastifyReply): Promise<void> {
    const rows = await this.reports.arCsv(q);
    this.reports.track(reply.raw);
    sendCsv(reply, `ar-tests-${stamp()}.csv`, rows);
  }

  @Get('availability')
  @MinRole('viewer')
  @ApiProduces('application/json', 'text/csv')
  @ApiOperation({
    summary:
      'Availability per scenario over a period (default the last 30 days): downtime, failovers, failure → DNS mean and max, AR pass rate; JSON or CSV',
  })
  @ApiResponse({ status: 200, description: 'JSON {since, until, scenarios: [...]}, or CSV with format=csv' })
  @ApiResponse({
    status: 400,
    description: 'bad period (since not before until, over 400 days), unknown scenarioId',
  })
  async availability(@Query() q: AvailabilityQuery, @Res() reply: FastifyReply): Promise<void> {
    const report = await this.reports.availability(q);
    if (q.format === 'csv')
      return sendCsv(reply, `availability-${stamp()}.csv`, this.reports.availabilityCsv(report));
    void reply.header('content-type', 'application/json; charset=utf-8').send(report);
  }
}
