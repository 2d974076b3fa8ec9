/**
 * Live streams (server-sent events), authenticated like the rest of the API (bearer token):
 * - `GET /api/v1/events/stream`: every event as it is written, filtered by scenario, node, group
 *   and kinds; each carries its event id, and a reconnect with `Last-Event-ID` (header, or the
 *   `lastEventId` query parameter) resumes after it without a gap (see EventStreamService).
 * - `GET /api/v1/operations/{id}/stream`: one operation's steps as they change, then the operation
 *   itself once it ends, and the stream closes. Its ids are the step transitions' order, so a
 *   reconnect with `Last-Event-ID` sends only what changed after it.
 * - Browsers (EventSource sends no Authorization header): `POST /api/v1/events/stream-ticket` with
 *   the token gives a ticket that opens either stream as `?ticket=` for a minute.
 */
import {
  Controller,
  Get,
  Headers,
  HttpCode,
  NotFoundException,
  Param,
  Post,
  Query,
  Res,
} from '@nestjs/common';
import {
  ApiBearerAuth,
  ApiOperation,
  ApiProperty,
  ApiPropertyOptional,
  ApiResponse,
  ApiTags,
} from '@nestjs/swagger';
import { Transform } from 'class-transformer';
import { ArrayMaxSize, IsIn, IsOptional, IsUUID, Matches } from 'class-validator';
import { FastifyReply } from 'fastify';
import { DataSource } from 'typeorm';
import { CurrentPrincipal, MinRole, StreamTicket } from '../auth/auth.decorators';
import { AuthService, STREAM_TICKET_PATTERN, STREAM_TICKET_TTL_MS } from '../auth/auth.service';
import { Principal } from '../auth/principal';
import { InvalidInputError } from '../common/errors';
import { UuidParamPipe } from '../common/validation';
import { EVENT_KINDS } from '../detection/event.entity';
import { OperationsService, OperationView } from '../operations/operations.service';
import { EventStreamService, StreamCursor } from './event-stream.service';
import { SseStream } from './sse';

const POLL_MS = 250;
const BATCH = 500;
/** An operation stream checks its operation this often. */
const OPERATION_POLL_MS = 200;

export class EventStreamQuery {
  @ApiPropertyOptional()
  @IsOptional()
  @IsUUID()
  scenarioId?: string;

  @ApiPropertyOptional()
  @IsOptional()
  @IsUUID()
  nodeId?: string;

  @ApiPropertyOptional({ description: 'events of the scenarios in this group' })
  @IsOptional()
  @IsUUID()
  groupId?: string;

  @ApiPropertyOptional({ description: 'comma-separated event kinds', example: 'operation-succeeded,alert' })
  @IsOptional()
  @Transform(({ value }: { value: unknown }) =>
    typeof value === 'string' ? value.split(',').map((k) => k.trim()) : value,
  )
  @ArrayMaxSize(EVENT_KINDS.length)
  @IsIn(EVENT_KINDS, { each: true })
  kinds?: string[];

  @ApiPropertyOptional({ description: 'resume after this event id (browsers: EventSource sends the header)' })
  @IsOptional()
  @Matches(/^\d{1,18}$/, { message: 'lastEventId must be an event id' })
  lastEventId?: string;

  @ApiPropertyOptional({
    description:
      'a stream ticket (POST /api/v1/events/stream-ticket) instead of the Authorization header, for browsers',
  })
  @IsOptional()
  @Matches(STREAM_TICKET_PATTERN, { message: 'ticket must be a stream ticket (hst_…)' })
  ticket?: string;
}

export class OperationStreamQuery {
  @ApiPropertyOptional({ description: 'resume after this stream id' })
  @IsOptional()
  @Matches(/^\d{1,9}$/, { message: 'lastEventId must be a stream id of this operation' })
  lastEventId?: string;

  @ApiPropertyOptional({
    description:
      'a stream ticket (POST /api/v1/events/stream-ticket) instead of the Authorization header, for browsers',
  })
  @IsOptional()
  @Matches(STREAM_TICKET_PATTERN, { message: 'ticket must be a stream ticket (hst_…)' })
  ticket?: string;
}

export class StreamTicketView {
  @ApiProperty({ example: 'hst_…' }) ticket: string;
  @ApiProperty() expiresAt: Date;
  @ApiProperty({ type: [String] }) streams: string[];
}

/** Step states in the order a step goes through them (a step's transitions are numbered by them). */
const STEP_STAGE: Record<string, number> = { pending: 0, running: 1, done: 2, failed: 2, skipped: 2 };

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

@ApiTags('events')
@ApiBearerAuth()
@Controller('api/v1')
export class EventStreamController {
  constructor(
    private readonly stream: EventStreamService,
    private readonly operations: OperationsService,
    private readonly dataSource: DataSource,
    private readonly auth: AuthService,
  ) {}

  @Post('events/stream-ticket')
  @HttpCode(201)
  @MinRole('viewer')
  @ApiOperation({
    summary: `A stream ticket for browsers: opens the event streams as ?ticket= for ${STREAM_TICKET_TTL_MS / 1000} s (an open stream stays open), nothing else`,
  })
  @ApiResponse({ status: 201, type: () => StreamTicketView })
  async ticket(@CurrentPrincipal() p: Principal): Promise<StreamTicketView> {
    const t = await this.auth.issueStreamTicket(p as Principal & { kind: 'api' });
    return { ...t, streams: ['/api/v1/events/stream', '/api/v1/operations/{id}/stream'] };
  }

  @Get('events/stream')
  @MinRole('viewer')
  @StreamTicket()
  @ApiOperation({
    summary:
      'Live events (text/event-stream), filtered by scenario, node, group and kinds; Last-Event-ID resumes without a gap',
  })
  async events(
    @Query() q: EventStreamQuery,
    @Headers('last-event-id') lastEventHeader: string | undefined,
    @Res() reply: FastifyReply,
  ): Promise<void> {
    const last = q.lastEventId ?? lastEventHeader?.trim();
    if (last !== undefined && last !== '' && !/^\d{1,18}$/.test(last)) {
      throw new InvalidInputError('Last-Event-ID must be an event id', 'Last-Event-ID');
    }
    if (q.groupId) {
      const rows: unknown[] = await this.dataSource.query(`SELECT 1 FROM groups WHERE id = $1`, [q.groupId]);
      if (rows.length === 0) throw new NotFoundException(`group ${q.groupId} not found`);
    }
    let cursor: StreamCursor | null = last ? await this.stream.after(last) : await this.stream.now();
    const sse = this.stream.track(new SseStream(reply));
    if (!cursor) {
      // Pruned, or not ours: say so and go on from now, rather than fail a reconnect forever.
      await sse.send('reset', { reason: `event ${last} is not in the event log; streaming from now` });
      cursor = await this.stream.now();
    }
    const filter = { scenarioId: q.scenarioId, nodeId: q.nodeId, groupId: q.groupId, kinds: q.kinds };
    while (!sse.isClosed) {
      let rows;
      try {
        rows = await this.stream.read(cursor, filter, BATCH);
      } catch {
        // PostgreSQL unreachable: keep the stream open and try again (the cursor loses nothing).
        await sleep(1000);
        continue;
      }
      for (const e of rows) {
        const { xid, ...event } = e;
        if (!(await sse.send(e.kind, event, e.id))) break;
        cursor = { xid, id: e.id };
      }
      if (rows.length < BATCH) await Promise.race([sleep(POLL_MS), sse.closed]);
    }
    sse.end();
  }

  @Get('operations/:id/stream')
  @MinRole('viewer')
  @StreamTicket()
  @ApiOperation({
    summary:
      "One operation's step changes live (text/event-stream), then the operation once it ends; Last-Event-ID resumes",
  })
  async operation(
    @Param('id', UuidParamPipe) id: string,
    @Query() q: OperationStreamQuery,
    @Headers('last-event-id') lastEventHeader: string | undefined,
    @Res() reply: FastifyReply,
  ): Promise<void> {
    const lastRaw = q.lastEventId ?? lastEventHeader?.trim();
    if (lastRaw !== undefined && lastRaw !== '' && !/^\d{1,9}$/.test(lastRaw)) {
      throw new InvalidInputError('Last-Event-ID must be a stream id of this operation', 'Last-Event-ID');
    }
    let view: OperationView = await this.operations.get(id); // 404 for an unknown operation
    const sse = this.stream.track(new SseStream(reply));
    // Transition n of step p is p * 3 + stage: increasing in the order steps run.
    let sent = lastRaw ? Number(lastRaw) : -1;
    for (;;) {
      for (const step of view.steps ?? []) {
        const stage = STEP_STAGE[step.state] ?? 0;
        const n = step.position * 3 + stage;
        if (stage === 0 || n <= sent) continue;
        if (!(await sse.send('step', step, String(n)))) return sse.end();
        sent = n;
      }
      if (view.state === 'succeeded' || view.state === 'failed') {
        const { steps: _steps, ...op } = view;
        await sse.send('operation', op, String(Math.max(sent, (view.steps?.length ?? 0) * 3)));
        return sse.end();
      }
      await Promise.race([sleep(OPERATION_POLL_MS), sse.closed]);
      if (sse.isClosed) return sse.end();
      try {
        view = await this.operations.get(id);
      } catch {
        await sleep(1000);
      }
    }
  }
}
