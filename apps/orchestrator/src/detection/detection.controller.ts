import { Body, Controller, Get, HttpCode, Param, Post, Query } from '@nestjs/common';
import { UuidParamPipe } from '../common/validation';
import { ApiBearerAuth, ApiOperation, ApiProperty, ApiPropertyOptional, ApiTags } from '@nestjs/swagger';
import { InjectRepository } from '@nestjs/typeorm';
import { IsIn, IsNotEmpty, IsOptional, IsString, IsUUID, MaxLength } from 'class-validator';
import { In, Repository } from 'typeorm';
import { CurrentPrincipal, MinRole } from '../auth/auth.decorators';
import { actorOf, Principal } from '../auth/principal';
import { PaginationQuery } from '../common/dtos/pagination.dto';
import { NodesService, toNodeView } from '../nodes/nodes.service';
import { OperationsService } from '../operations/operations.service';
import { ScenariosService, toScenarioView } from '../scenarios/scenarios.service';
import { DetectorMembership } from '../cluster/membership.service';
import { HeartbeatStore } from '../heartbeats/heartbeat.store';
import { TopologyService } from '../topology/topology.service';
import { DetectorService } from './detector.service';
import { EVENT_KINDS, EventEntity } from './event.entity';
import { NodeStatusEntity } from './node-status.entity';
import { StormBrakeService } from './storm-brake.service';

export class ListEventsQuery extends PaginationQuery {
  @ApiPropertyOptional()
  @IsOptional()
  @IsUUID()
  scenarioId?: string;

  @ApiPropertyOptional()
  @IsOptional()
  @IsUUID()
  nodeId?: string;

  @ApiPropertyOptional({ enum: EVENT_KINDS })
  @IsOptional()
  @IsIn(EVENT_KINDS)
  kind?: string;
}

export class AcknowledgeDto {
  @ApiProperty({ example: 'root cause found: flapping switch port replaced' })
  @IsString()
  @IsNotEmpty()
  @MaxLength(1024)
  reason: string;
}

@ApiTags('detection')
@ApiBearerAuth()
@Controller('api/v1')
export class DetectionController {
  constructor(
    private readonly nodes: NodesService,
    private readonly scenarios: ScenariosService,
    private readonly operations: OperationsService,
    private readonly detector: DetectorService,
    private readonly store: HeartbeatStore,
    private readonly stormBrake: StormBrakeService,
    @InjectRepository(EventEntity) private readonly events: Repository<EventEntity>,
    @InjectRepository(NodeStatusEntity) private readonly statuses: Repository<NodeStatusEntity>,
    private readonly membership: DetectorMembership,
    private readonly topology: TopologyService,
  ) {}

  @Get('detection/members')
  @MinRole('viewer')
  @ApiOperation({
    summary:
      'Detector instances sharing the detection work, and how many nodes each owns (as this instance sees it)',
  })
  members() {
    const owned = new Map<string, number>();
    const watched = new Map<string, number>();
    for (const n of this.topology.allNodes()) {
      this.membership.ownersOf(n.id).forEach((m, i) => {
        if (i === 0) owned.set(m.id, (owned.get(m.id) ?? 0) + 1);
        watched.set(m.id, (watched.get(m.id) ?? 0) + 1);
      });
    }
    return {
      sharding: this.membership.enabled,
      instanceId: this.membership.id,
      canAct: this.membership.canAct,
      evaluatedHere: this.detector.evaluatedCount,
      members: this.membership.members.map((m) => ({
        id: m.id,
        url: m.url,
        self: m.id === this.membership.id,
        ownedNodes: owned.get(m.id) ?? 0,
        watchedNodes: watched.get(m.id) ?? 0,
      })),
    };
  }

  @Get('nodes/:id/health')
  @MinRole('viewer')
  @ApiOperation({ summary: "A node's verdict with per-check details, observers' votes and recent history" })
  async health(@Param('id', UuidParamPipe) id: string) {
    const node = await this.nodes.get(id);
    const status = await this.statuses.findOne({ where: { nodeId: id } });
    const live = this.store.get(id);
    const evidence = this.detector.evidenceOf(id) ?? (status?.evidence as unknown) ?? null;
    const history = await this.events.find({ where: { nodeId: id }, order: { id: 'DESC' }, take: 50 });
    return {
      node: toNodeView(node),
      verdict: (evidence as { verdict?: string } | null)?.verdict ?? status?.verdict ?? 'unknown',
      evidence,
      heartbeat: live
        ? { lastSeenAt: new Date(live.lastSeenAt), seq: live.seq, bootId: live.bootId, report: live.report }
        : status?.lastSeenAt
          ? {
              lastSeenAt: status.lastSeenAt,
              seq: Number(status.lastSeq),
              bootId: status.bootId,
              report: status.report,
            }
          : null,
      history: history.map((e) => ({ at: e.at, kind: e.kind, severity: e.severity, message: e.message })),
      // Sharded: who evaluates this node (owner, backup); elsewhere the verdict is the owner's last record.
      detection: {
        owners: this.membership.ownersOf(id).map((m) => m.url),
        evaluatedHere: this.detector.evidenceOf(id) !== undefined,
      },
    };
  }

  @Get('scenarios/:id/status')
  @MinRole('viewer')
  @ApiOperation({
    summary: 'Scenario state, epoch, active node, verdicts of its nodes and the running operation',
  })
  async status(@Param('id', UuidParamPipe) id: string) {
    const s = toScenarioView(await this.scenarios.get(id));
    const nodeIds = [s.productionNodeId, ...s.replicaNodeIds];
    const rows = await this.statuses.findBy({ nodeId: In(nodeIds) });
    const nodes = await Promise.all(
      nodeIds.map(async (nid) => {
        const ev = this.detector.evidenceOf(nid);
        const row = rows.find((r) => r.nodeId === nid);
        const n = await this.nodes.get(nid);
        return {
          nodeId: nid,
          name: n.name,
          address: n.address,
          role: nid === s.activeNodeId ? 'active' : nid === s.productionNodeId ? 'production' : 'replica',
          verdict: ev?.verdict ?? row?.verdict ?? 'unknown',
          reason: ev?.reason ?? null,
          heartbeatAgeMs: ev?.heartbeatAgeMs ?? null,
        };
      }),
    );
    const active = await this.operations.activeFor(id);
    return {
      scenario: s,
      nodes,
      activeOperationId: active?.id ?? null,
      stormBrake: await this.stormBrake.state(),
    };
  }

  @Get('events')
  @MinRole('viewer')
  @ApiOperation({ summary: 'Detector and operation events, newest first' })
  async list(@Query() q: ListEventsQuery) {
    const qb = this.events.createQueryBuilder('e').orderBy('e.id', 'DESC').take(q.limit).skip(q.offset);
    if (q.scenarioId) qb.andWhere('e.scenarioId = :s', { s: q.scenarioId });
    if (q.nodeId) qb.andWhere('e.nodeId = :n', { n: q.nodeId });
    if (q.kind) qb.andWhere('e.kind = :k', { k: q.kind });
    const [items, total] = await qb.getManyAndCount();
    return { items, total, limit: q.limit, offset: q.offset };
  }

  @Get('storm-brake')
  @MinRole('viewer')
  @ApiOperation({ summary: 'Storm brake state (automatic failovers paused when engaged)' })
  storm() {
    return this.stormBrake.state();
  }

  @Post('storm-brake/acknowledge')
  @HttpCode(200)
  @MinRole('admin')
  @ApiOperation({ summary: 'Release the storm brake: automatic failovers may start again' })
  acknowledge(@Body() dto: AcknowledgeDto, @CurrentPrincipal() p: Principal) {
    return this.stormBrake.acknowledge(actorOf(p), dto.reason);
  }
}
