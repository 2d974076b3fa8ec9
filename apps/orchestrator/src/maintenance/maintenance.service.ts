/**
 * Maintenance windows: while one is active, automatic failover of its scope (a node: the scenarios
 * it is active for; a scenario; a group: its members) is suppressed, and a node in one is never a
 * promotion target. Checks keep running. Every instance keeps the windows that are not over in
 * memory (refreshed each second and at once on a local change) for the detector's tick; targets are
 * checked against PostgreSQL. Start and end are announced once (audit, event, webhook) by whichever
 * instance claims them first.
 */
import { Injectable, OnApplicationBootstrap, OnApplicationShutdown, Optional } from '@nestjs/common';
import { DataSource, In } from 'typeorm';
import { AuditService } from '../audit/audit.service';
import { InvalidInputError, InvalidStateError, NotFoundError } from '../common/errors';
import { createLogger } from '../common/logger';
import { pushTo } from '../common/push-to';
import { AppConfig } from '../config/app-config';
import { EventEntity } from '../detection/event.entity';
import { GroupEntity, GroupMemberEntity } from '../groups/group.entity';
import { NodeEntity } from '../nodes/node.entity';
import { NotificationsService } from '../notify/notifications.service';
import { ScenarioEntity } from '../scenarios/scenario.entity';
import {
  CreateMaintenanceDto,
  ExtendMaintenanceDto,
  ListMaintenanceQuery,
  MAX_WINDOW_SECONDS,
  MaintenanceImpact,
  MaintenancePage,
  MaintenanceResult,
  MaintenanceState,
  MaintenanceView,
} from './dtos/maintenance.dto';
import { MaintenanceScope, MaintenanceWindowEntity } from './maintenance-window.entity';

const log = createLogger('Maintenance');
const REFRESH_MS = 1000;
/** A start this far in the past is a mistake, not "now". */
const PAST_START_SLACK_MS = 60_000;

export function windowState(w: MaintenanceWindowEntity, now = Date.now()): MaintenanceState {
  if (w.endsAt.getTime() <= now) return 'ended';
  return w.startsAt.getTime() <= now ? 'active' : 'scheduled';
}

/**
 * Whether the window suppresses automatic failover of the scenario at `now`: active, and on the
 * scenario, on its active node, or on a group it belongs to (`groupMembers`: group id → scenario ids).
 */
export function windowCovers(
  w: Pick<MaintenanceWindowEntity, 'scopeType' | 'scopeId' | 'startsAt' | 'endsAt'>,
  scenarioId: string,
  activeNodeId: string,
  groupMembers: ReadonlyMap<string, readonly string[]>,
  now: number,
): boolean {
  if (w.startsAt.getTime() > now || w.endsAt.getTime() <= now) return false;
  if (w.scopeType === 'scenario') return w.scopeId === scenarioId;
  if (w.scopeType === 'node') return w.scopeId === activeNodeId;
  return (groupMembers.get(w.scopeId) ?? []).includes(scenarioId);
}

const SCOPE_ENTITY = { node: NodeEntity, scenario: ScenarioEntity, group: GroupEntity } as const;

@Injectable()
export class MaintenanceService implements OnApplicationBootstrap, OnApplicationShutdown {
  /** windows not over at the last refresh */
  private current: MaintenanceWindowEntity[] = [];
  /** scenario ids of the groups that current windows name */
  private groupMembers = new Map<string, string[]>();
  private timer: NodeJS.Timeout | null = null;
  private refreshing: Promise<void> | null = null;

  constructor(
    private readonly dataSource: DataSource,
    private readonly audit: AuditService,
    private readonly config: AppConfig,
    @Optional() private readonly notifications?: NotificationsService,
  ) {}

  private get repo() {
    return this.dataSource.getRepository(MaintenanceWindowEntity);
  }

  onApplicationBootstrap(): void {
    const tick = () => {
      void this.refresh()
        .then(() => (this.config.roles.has('detector') ? this.announce() : undefined))
        .catch((err: Error) => log.warn({ err: err.message }, 'maintenance windows not refreshed'));
    };
    tick();
    this.timer = setInterval(tick, REFRESH_MS);
    this.timer.unref();
  }

  onApplicationShutdown(): void {
    if (this.timer) clearInterval(this.timer);
  }

  /** Reloads the windows that are not over (single flight). */
  refresh(): Promise<void> {
    this.refreshing ??= (async () => {
      const rows = await this.repo
        .createQueryBuilder('w')
        .where('w."endsAt" > now()')
        .orderBy('w."startsAt"', 'ASC')
        .getMany();
      const groupIds = rows.filter((w) => w.scopeType === 'group').map((w) => w.scopeId);
      const members = new Map<string, string[]>();
      if (groupIds.length) {
        const ms = await this.dataSource
          .getRepository(GroupMemberEntity)
          .find({ where: { groupId: In(groupIds) } });
        for (const m of ms) pushTo(members, m.groupId, m.scenarioId);
      }
      this.current = rows;
      this.groupMembers = members;
    })().finally(() => (this.refreshing = null));
    return this.refreshing;
  }

  /**
   * The active window that suppresses automatic failover of the scenario now (its own, one of its
   * groups', or its active node's), from memory: the detector asks every tick.
   */
  suppressing(
    scenarioId: string,
    activeNodeId: string,
    now = Date.now(),
  ): MaintenanceWindowEntity | undefined {
    return this.current.find((w) => windowCovers(w, scenarioId, activeNodeId, this.groupMembers, now));
  }

  /** Nodes in an active node window now, read from PostgreSQL (a promotion target must not be one). */
  async nodesInMaintenance(): Promise<Set<string>> {
    const rows = await this.repo
      .createQueryBuilder('w')
      .select('w."scopeId"', 'id')
      .where(`w."scopeType" = 'node' AND w."startsAt" <= now() AND w."endsAt" > now()`)
      .getRawMany<{ id: string }>();
    return new Set(rows.map((r) => r.id));
  }

  /** Active windows that cover the scenario (its own, its groups', any of its nodes'), for answers to operators. */
  async activeFor(scenarioId: string): Promise<MaintenanceWindowEntity[]> {
    const s = await this.dataSource
      .getRepository(ScenarioEntity)
      .findOne({ where: { id: scenarioId }, relations: { replicas: true } });
    if (!s) return [];
    const nodeIds = [s.productionNodeId, ...(s.replicas ?? []).map((r) => r.nodeId)];
    const groups = await this.dataSource.getRepository(GroupMemberEntity).find({ where: { scenarioId } });
    const scopes = [scenarioId, ...nodeIds, ...groups.map((g) => g.groupId)];
    return this.repo
      .createQueryBuilder('w')
      .where('w."scopeId" = ANY(:scopes) AND w."startsAt" <= now() AND w."endsAt" > now()', { scopes })
      .getMany();
  }

  /** What an operator's manual operation on the scenario should be told: one line per active window. */
  async warningsFor(scenarioId: string): Promise<string[]> {
    const windows = await this.activeFor(scenarioId);
    return windows.map(
      (w) =>
        `maintenance window ${w.id} is active on ${w.scopeType} ${w.scopeId} until ${w.endsAt.toISOString()} (${w.reason})`,
    );
  }

  async create(dto: CreateMaintenanceDto, actor: string): Promise<MaintenanceResult> {
    const now = Date.now();
    const startsAt = dto.startsAt ? new Date(dto.startsAt) : new Date(now);
    if (startsAt.getTime() < now - PAST_START_SLACK_MS)
      throw new InvalidInputError('startsAt must not be in the past (leave it out to start now)', 'startsAt');
    const endsAt = this.endOf(dto, startsAt);
    await this.scopeName(dto.scopeType, dto.scopeId);
    const w = await this.repo.save(
      this.repo.create({
        scopeType: dto.scopeType,
        scopeId: dto.scopeId,
        reason: dto.reason,
        startsAt,
        endsAt,
        createdBy: actor,
      }),
    );
    const { impact, warnings } = await this.impactOf(w);
    await this.audit.record({
      actor,
      action: 'maintenance.create',
      targetType: dto.scopeType,
      targetId: dto.scopeId,
      reason: dto.reason,
      details: { windowId: w.id, startsAt, endsAt, warnings },
    });
    await this.refresh().catch(() => undefined);
    return { window: await this.view(w), impact, warnings };
  }

  /** endsAt or durationSeconds (exactly one), after startsAt, in the future, at most MAX_WINDOW_SECONDS long. */
  private endOf(dto: { endsAt?: string; durationSeconds?: number }, startsAt: Date, from = startsAt): Date {
    if ((dto.endsAt === undefined) === (dto.durationSeconds === undefined))
      throw new InvalidInputError('a window needs exactly one of endsAt and durationSeconds', 'endsAt');
    const endsAt = dto.endsAt ? new Date(dto.endsAt) : new Date(from.getTime() + dto.durationSeconds! * 1000);
    if (endsAt.getTime() <= startsAt.getTime())
      throw new InvalidInputError('endsAt must be after startsAt', 'endsAt');
    if (endsAt.getTime() <= Date.now()) throw new InvalidInputError('endsAt must be in the future', 'endsAt');
    if (endsAt.getTime() - startsAt.getTime() > MAX_WINDOW_SECONDS * 1000)
      throw new InvalidInputError(`a window lasts at most ${MAX_WINDOW_SECONDS / 86400} days`, 'endsAt');
    return endsAt;
  }

  async extend(id: string, dto: ExtendMaintenanceDto, actor: string): Promise<MaintenanceResult> {
    const w = await this.get(id);
    if (windowState(w) === 'ended') throw new InvalidStateError(`maintenance window ${id} has already ended`);
    const previous = w.endsAt;
    w.endsAt = this.endOf(dto, w.startsAt, new Date());
    await this.repo.update({ id }, { endsAt: w.endsAt });
    await this.audit.record({
      actor,
      action: 'maintenance.extend',
      targetType: w.scopeType,
      targetId: w.scopeId,
      reason: dto.reason,
      details: { windowId: id, previousEndsAt: previous, endsAt: w.endsAt },
    });
    await this.refresh().catch(() => undefined);
    const { impact, warnings } = await this.impactOf(w);
    return { window: await this.view(w), impact, warnings };
  }

  async end(id: string, reason: string, actor: string): Promise<MaintenanceView> {
    const w = await this.get(id);
    if (windowState(w) === 'ended') throw new InvalidStateError(`maintenance window ${id} has already ended`);
    const now = new Date();
    // A window not started yet is cancelled: it ends where it would have begun.
    const endsAt = w.startsAt > now ? w.startsAt : now;
    await this.repo.update({ id }, { endsAt, endedEarlyAt: now, endedBy: actor });
    Object.assign(w, { endsAt, endedEarlyAt: now, endedBy: actor });
    await this.audit.record({
      actor,
      action: 'maintenance.end',
      targetType: w.scopeType,
      targetId: w.scopeId,
      reason,
      details: { windowId: id },
    });
    await this.refresh().catch(() => undefined);
    return this.view(w);
  }

  async get(id: string): Promise<MaintenanceWindowEntity> {
    const w = await this.repo.findOne({ where: { id } });
    if (!w) throw new NotFoundError('maintenance window', id);
    return w;
  }

  async getView(id: string): Promise<MaintenanceView> {
    return this.view(await this.get(id));
  }

  async list(q: ListMaintenanceQuery): Promise<MaintenancePage> {
    const qb = this.repo.createQueryBuilder('w');
    if (q.state === 'ended') qb.andWhere('w."endsAt" <= now()');
    if (q.state === 'active') qb.andWhere('w."startsAt" <= now() AND w."endsAt" > now()');
    if (q.state === 'scheduled') qb.andWhere('w."startsAt" > now()');
    if (q.scopeType) qb.andWhere('w."scopeType" = :t', { t: q.scopeType });
    if (q.scopeId) qb.andWhere('w."scopeId" = :sid', { sid: q.scopeId });
    const [rows, total] = await qb
      .orderBy('w."startsAt"', 'DESC')
      .addOrderBy('w.id')
      .take(q.limit)
      .skip(q.offset)
      .getManyAndCount();
    return {
      items: await Promise.all(rows.map((w) => this.view(w))),
      total,
      limit: q.limit,
      offset: q.offset,
    };
  }

  private async view(w: MaintenanceWindowEntity): Promise<MaintenanceView> {
    return {
      id: w.id,
      scopeType: w.scopeType,
      scopeId: w.scopeId,
      scopeName: await this.scopeName(w.scopeType, w.scopeId).catch(() => null),
      reason: w.reason,
      state: windowState(w),
      startsAt: w.startsAt,
      endsAt: w.endsAt,
      createdBy: w.createdBy,
      createdAt: w.createdAt,
      endedEarlyAt: w.endedEarlyAt,
      endedBy: w.endedBy,
    };
  }

  /** The name of the window's node, scenario or group; 400 naming scopeId if there is none. */
  private async scopeName(type: MaintenanceScope, id: string): Promise<string> {
    const row = await this.dataSource.getRepository(SCOPE_ENTITY[type]).findOne({ where: { id } });
    if (!row) throw new InvalidInputError(`scopeId: no ${type} ${id}`, 'scopeId');
    return row.name;
  }

  /**
   * What the window does to each scenario it touches, and warnings: a scenario with no replica left
   * outside maintenance while this window overlaps the others, a window on a node that is active.
   */
  private async impactOf(
    w: MaintenanceWindowEntity,
  ): Promise<{ impact: MaintenanceImpact[]; warnings: string[] }> {
    const scenarios = await this.scenariosTouched(w);
    // node windows overlapping this one
    const overlapping = await this.repo
      .createQueryBuilder('o')
      .where(`o."scopeType" = 'node' AND o."startsAt" < :end AND o."endsAt" > :start`, {
        start: w.startsAt,
        end: w.endsAt,
      })
      .getMany();
    const down = new Set(overlapping.map((o) => o.scopeId));
    const impact: MaintenanceImpact[] = [];
    const warnings: string[] = [];
    for (const s of scenarios) {
      const effects: string[] = [];
      const nodes = [s.productionNodeId, ...(s.replicas ?? []).map((r) => r.nodeId)];
      const others = nodes.filter((n) => n !== s.activeNodeId);
      if (w.scopeType !== 'node' || w.scopeId === s.activeNodeId)
        effects.push('automatic failover suppressed');
      if (w.scopeType === 'node' && w.scopeId !== s.activeNodeId)
        effects.push('node is not a promotion target');
      if (others.length > 0 && others.every((n) => down.has(n))) {
        warnings.push(
          `scenario ${s.name} has no eligible replica while this window lasts: every replica is in maintenance`,
        );
      }
      impact.push({ scenarioId: s.id, scenarioName: s.name, effects });
    }
    return { impact, warnings };
  }

  private async scenariosTouched(w: MaintenanceWindowEntity): Promise<ScenarioEntity[]> {
    const repo = this.dataSource.getRepository(ScenarioEntity);
    if (w.scopeType === 'scenario')
      return repo.find({ where: { id: w.scopeId }, relations: { replicas: true } });
    if (w.scopeType === 'group') {
      const ms = await this.dataSource
        .getRepository(GroupMemberEntity)
        .find({ where: { groupId: w.scopeId } });
      if (!ms.length) return [];
      return repo.find({ where: { id: In(ms.map((m) => m.scenarioId)) }, relations: { replicas: true } });
    }
    // The scenarios the node belongs to, found by PostgreSQL rather than by loading every scenario.
    const ids: { id: string }[] = await this.dataSource.query(
      `SELECT id FROM scenarios WHERE "productionNodeId" = $1
       UNION SELECT "scenarioId" FROM scenario_replicas WHERE "nodeId" = $1`,
      [w.scopeId],
    );
    if (!ids.length) return [];
    return repo.find({ where: { id: In(ids.map((r) => r.id)) }, relations: { replicas: true } });
  }

  /** Claims the starts and ends due since the last round (each once, across instances) and announces them. */
  async announce(): Promise<void> {
    const claim = (set: string, when: string) =>
      this.dataSource.query(
        `UPDATE "maintenance_windows" w SET ${set} WHERE w.id IN (
           SELECT id FROM "maintenance_windows" WHERE ${when} FOR UPDATE SKIP LOCKED)
         RETURNING w.*`,
      ) as Promise<[Record<string, unknown>[], number]>;
    const [started] = await claim(
      `"startAnnouncedAt" = now()`,
      `"startAnnouncedAt" IS NULL AND "startsAt" <= now() AND "endsAt" > now()`,
    );
    for (const row of started) await this.announceOne(this.repo.create(row), 'started');
    const [ended] = await claim(
      `"endAnnouncedAt" = now(), "startAnnouncedAt" = COALESCE("startAnnouncedAt", now())`,
      `"endAnnouncedAt" IS NULL AND "endsAt" <= now()`,
    );
    for (const row of ended) {
      const w = this.repo.create(row);
      // Cancelled before it began: nothing started, nothing to end.
      if (w.endedEarlyAt && w.endsAt.getTime() === w.startsAt.getTime()) continue;
      await this.announceOne(w, 'ended');
    }
  }

  private async announceOne(w: MaintenanceWindowEntity, what: 'started' | 'ended'): Promise<void> {
    const name = await this.scopeName(w.scopeType, w.scopeId).catch(() => w.scopeId);
    const early = what === 'ended' && w.endedEarlyAt ? ` early by ${w.endedBy}` : '';
    const message =
      what === 'started'
        ? `maintenance of ${w.scopeType} ${name} started, until ${w.endsAt.toISOString()}: automatic failover suppressed (${w.reason})`
        : `maintenance of ${w.scopeType} ${name} ended${early}: automatic failover resumes`;
    const kind = `maintenance-${what}`;
    const scenarioId = w.scopeType === 'scenario' ? w.scopeId : null;
    const nodeId = w.scopeType === 'node' ? w.scopeId : null;
    const details = {
      windowId: w.id,
      scopeType: w.scopeType,
      scopeId: w.scopeId,
      // group-scoped webhook subscriptions take group-level events by this
      ...(w.scopeType === 'group' && { groupId: w.scopeId }),
      endsAt: w.endsAt,
      reason: w.reason,
    };
    await this.dataSource
      .getRepository(EventEntity)
      .insert({ kind, severity: 'info', scenarioId, nodeId, message, details });
    await this.audit.record({
      actor: 'system',
      action: `maintenance.${what === 'started' ? 'start' : 'end'}`,
      targetType: w.scopeType,
      targetId: w.scopeId,
      reason: w.reason,
      details: { windowId: w.id },
    });
    await this.notifications
      ?.publish(`${kind}.${w.id}`, { kind, severity: 'info', message, scenarioId, nodeId, details })
      .catch((err: Error) => log.warn({ err: err.message }, 'webhook not queued'));
    log.info({ window: w.id, scope: `${w.scopeType}:${name}` }, message);
  }
}
