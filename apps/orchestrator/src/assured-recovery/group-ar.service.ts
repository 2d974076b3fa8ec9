/**
 * Group AR runs: an Assured Recovery test of every member of a group, at most `maxParallel` at a
 * time, with one report. Each member's test is an ordinary ar-test operation (same rules as
 * POST /scenarios/{id}/ar-test: a member that is not running, or busy, is `refused` with the
 * reason). The run is durable: its members' states live in PostgreSQL, and every instance with the
 * detector role advances running runs once a second (each run under a row lock, so two instances
 * never start the same member twice). When the last member ends, one `ar-group-result` event and
 * webhook gives the counts (critical if a test failed).
 */
import { Injectable, OnApplicationBootstrap, OnApplicationShutdown, Optional } from '@nestjs/common';
import { DataSource, EntityManager, In } from 'typeorm';
import { AuditService } from '../audit/audit.service';
import { ConflictError, DomainError, NotFoundError, TransientError } from '../common/errors';
import { createLogger } from '../common/logger';
import { startTicker } from '../common/ticker';
import { AppConfig } from '../config/app-config';
import { EventEntity } from '../detection/event.entity';
import { GroupEntity, GroupMemberEntity } from '../groups/group.entity';
import { isUniqueViolation } from '../nodes/nodes.service';
import { NotificationsService } from '../notify/notifications.service';
import { OperationEntity } from '../operations/operation.entity';
import { ScenarioEntity } from '../scenarios/scenario.entity';
import { AssuredRecoveryService } from './assured-recovery.service';
import { ArResultView } from './dtos/ar-test.dto';
import { GroupArRunEntity, GroupArRunMemberEntity } from './group-ar-run.entity';

const log = createLogger('GroupAr');
const TICK_MS = 1000;
export const DEFAULT_GROUP_AR_PARALLEL = 2;

export interface GroupArRunView {
  id: string;
  groupId: string;
  group: string;
  state: 'running' | 'done';
  reason: string;
  requestedBy: string;
  maxParallel: number;
  snapshot: boolean | null;
  summary: Record<string, number> | null;
  createdAt: Date;
  finishedAt: Date | null;
  durationMs: number | null;
  members: {
    scenarioId: string;
    name: string;
    state: string;
    operationId: string | null;
    arResult: string | null;
    error: string | null;
    startedAt: Date | null;
    finishedAt: Date | null;
    /** the member's AR test (steps and durations), once started */
    result: ArResultView | null;
  }[];
}

export interface StartGroupArRun {
  groupId: string;
  reason: string;
  requestedBy: string;
  maxParallel?: number;
  snapshot?: boolean;
}

@Injectable()
export class GroupArService implements OnApplicationBootstrap, OnApplicationShutdown {
  private stop: (() => void) | null = null;

  constructor(
    private readonly dataSource: DataSource,
    private readonly ar: AssuredRecoveryService,
    private readonly audit: AuditService,
    private readonly config: AppConfig,
    @Optional() private readonly notifications?: NotificationsService,
  ) {}

  onApplicationBootstrap(): void {
    if (!this.config.roles.has('detector')) return;
    this.stop = startTicker(TICK_MS, () => this.tick(), log, 'group AR runs advance');
  }

  onApplicationShutdown(): void {
    this.stop?.();
  }

  async start(req: StartGroupArRun): Promise<GroupArRunView> {
    const group = await this.dataSource.getRepository(GroupEntity).findOne({ where: { id: req.groupId } });
    if (!group) throw new NotFoundError('group', req.groupId);
    const members = await this.membersByName(group.id);
    if (!members.length)
      throw new ConflictError(`group ${group.name} has no member scenarios`, { groupId: group.id });
    let runId: string;
    try {
      runId = await this.dataSource.transaction(async (m) => {
        const run = await m.getRepository(GroupArRunEntity).save(
          m.getRepository(GroupArRunEntity).create({
            groupId: group.id,
            reason: req.reason,
            requestedBy: req.requestedBy,
            maxParallel: req.maxParallel ?? DEFAULT_GROUP_AR_PARALLEL,
            snapshot: req.snapshot ?? null,
          }),
        );
        await m
          .getRepository(GroupArRunMemberEntity)
          .insert(members.map((s, position) => ({ runId: run.id, scenarioId: s.id, position })));
        await this.audit.record(
          {
            actor: req.requestedBy,
            action: 'group.ar-test.requested',
            targetType: 'group',
            targetId: group.id,
            reason: req.reason,
            details: { runId: run.id, members: members.length, maxParallel: run.maxParallel },
          },
          m,
        );
        return run.id;
      });
    } catch (err) {
      if (!isUniqueViolation(err)) throw err;
      const running = await this.dataSource
        .getRepository(GroupArRunEntity)
        .findOne({ where: { groupId: group.id, state: 'running' } });
      throw new ConflictError(`an AR run of group ${group.name} is already running: ${running?.id ?? '?'}`, {
        groupId: group.id,
        runId: running?.id,
      });
    }
    // The first members start now, not at the next tick.
    await this.advance(runId);
    return this.get(group.id, runId);
  }

  async get(groupId: string, runId: string): Promise<GroupArRunView> {
    const run = await this.dataSource
      .getRepository(GroupArRunEntity)
      .findOne({ where: { id: runId, groupId } });
    if (!run) throw new NotFoundError('group AR run', runId);
    return (await this.views([run]))[0];
  }

  async list(groupId: string, limit: number, offset: number) {
    const group = await this.dataSource.getRepository(GroupEntity).exists({ where: { id: groupId } });
    if (!group) throw new NotFoundError('group', groupId);
    const [runs, total] = await this.dataSource
      .getRepository(GroupArRunEntity)
      .findAndCount({ where: { groupId }, order: { createdAt: 'DESC' }, take: limit, skip: offset });
    return { items: await this.views(runs), total, limit, offset };
  }

  /** Every member's AR tests (single and group runs), newest first. */
  async groupResults(groupId: string, limit: number): Promise<ArResultView[]> {
    const group = await this.dataSource.getRepository(GroupEntity).exists({ where: { id: groupId } });
    if (!group) throw new NotFoundError('group', groupId);
    const ids = (await this.dataSource.getRepository(GroupMemberEntity).find({ where: { groupId } })).map(
      (m) => m.scenarioId,
    );
    return this.ar.resultsOfScenarios(ids, limit);
  }

  /** Advances every running run (public for tests). */
  async tick(): Promise<void> {
    const runs = await this.dataSource
      .getRepository(GroupArRunEntity)
      .find({ select: { id: true }, where: { state: 'running' } });
    for (const r of runs) await this.advance(r.id);
  }

  /**
   * One step of a run, under its row lock (another instance holding it skips): members whose test
   * ended are finished, then pending members start while fewer than maxParallel run; the run is
   * done when none is pending or running.
   */
  async advance(runId: string): Promise<void> {
    const done = await this.dataSource.transaction(async (m) => {
      const [run] = (await m.query(
        `SELECT * FROM group_ar_runs WHERE id = $1 AND state = 'running' FOR UPDATE SKIP LOCKED`,
        [runId],
      )) as GroupArRunEntity[];
      if (!run) return null;
      const repo = m.getRepository(GroupArRunMemberEntity);
      const members = await repo.find({ where: { runId }, order: { position: 'ASC' } });
      await this.finishEnded(m, members);
      let running = members.filter((x) => x.state === 'started').length;
      for (const member of members) {
        if (running >= run.maxParallel) break;
        if (member.state !== 'pending') continue;
        // Started by an earlier round whose bookkeeping was not saved: adopt it, never a second test.
        const [earlier] = (await m.query(
          `SELECT id FROM operations WHERE "scenarioId" = $1 AND type = 'ar-test' AND params->>'groupArRunId' = $2
            ORDER BY "createdAt" LIMIT 1`,
          [member.scenarioId, run.id],
        )) as { id: string }[];
        if (earlier) {
          Object.assign(member, { state: 'started', operationId: earlier.id, startedAt: new Date() });
          running++;
          await repo.save(member);
          continue;
        }
        try {
          const op = await this.ar.requestTest({
            scenarioId: member.scenarioId,
            trigger: 'manual',
            requestedBy: run.requestedBy,
            reason: `${run.reason} (group AR run ${run.id})`,
            groupArRunId: run.id,
            ...(run.snapshot !== null && { snapshot: run.snapshot }),
          });
          Object.assign(member, { state: 'started', operationId: op.id, startedAt: new Date() });
          running++;
        } catch (err) {
          if (!(err instanceof DomainError) || err instanceof TransientError) {
            // PostgreSQL or Redis trouble: the member stays pending, the next tick tries again.
            log.warn(
              { runId, scenarioId: member.scenarioId, err: (err as Error).message },
              'group AR member not started',
            );
            continue;
          }
          Object.assign(member, {
            state: 'refused',
            error: err.message.slice(0, 1024),
            finishedAt: new Date(),
          });
        }
        await repo.save(member);
      }
      if (members.some((x) => x.state === 'pending' || x.state === 'started')) return null;
      const summary: Record<string, number> = { passed: 0, failed: 0, aborted: 0, refused: 0, error: 0 };
      for (const x of members) {
        const k = x.state === 'refused' ? 'refused' : (x.arResult ?? 'error');
        summary[k in summary ? k : 'error']++;
      }
      await m
        .getRepository(GroupArRunEntity)
        .update(run.id, { state: 'done', summary, finishedAt: new Date() });
      return { run, summary, members: members.length };
    });
    if (done) await this.announce(done.run, done.summary, done.members);
  }

  private async finishEnded(m: EntityManager, members: GroupArRunMemberEntity[]): Promise<void> {
    const started = members.filter((x) => x.state === 'started' && x.operationId);
    if (!started.length) return;
    const ops = await m
      .getRepository(OperationEntity)
      .find({ where: { id: In(started.map((x) => x.operationId!)) } });
    for (const member of started) {
      const op = ops.find((o) => o.id === member.operationId);
      if (op && (op.state === 'pending' || op.state === 'running')) continue;
      const p = op?.params ?? {};
      const arResult =
        typeof p.arResult === 'string' ? p.arResult : p.abortRequested === true ? 'aborted' : null;
      const failure =
        typeof p.failure === 'string' ? p.failure : (op?.error ?? (op ? null : 'operation deleted'));
      Object.assign(member, {
        state: 'finished',
        arResult,
        error: failure ? String(failure).slice(0, 1024) : null,
        finishedAt: op?.finishedAt ?? new Date(),
      });
      await m.getRepository(GroupArRunMemberEntity).save(member);
    }
  }

  private async announce(run: GroupArRunEntity, summary: Record<string, number>, members: number) {
    const group = await this.dataSource.getRepository(GroupEntity).findOne({ where: { id: run.groupId } });
    const name = group?.name ?? run.groupId;
    const severity = summary.failed > 0 ? 'critical' : members === summary.passed ? 'info' : 'warning';
    const counts = Object.entries(summary)
      .filter(([, n]) => n > 0)
      .map(([k, n]) => `${n} ${k}`)
      .join(', ');
    const message = `AR run of group ${name}: ${counts} (of ${members})`;
    const details = { groupId: run.groupId, group: name, runId: run.id, summary };
    await this.dataSource
      .getRepository(EventEntity)
      .insert({ kind: 'ar-group-result', severity, scenarioId: null, nodeId: null, message, details });
    await this.notifications
      ?.publish(`ar-group-result.${run.id}`, { kind: 'ar-group-result', severity, message, details })
      .catch((err: Error) => log.warn({ err: err.message }, 'webhook not queued'));
    log.info({ runId: run.id, group: name, summary }, message);
  }

  private async membersByName(groupId: string): Promise<ScenarioEntity[]> {
    const ids = (await this.dataSource.getRepository(GroupMemberEntity).find({ where: { groupId } })).map(
      (x) => x.scenarioId,
    );
    if (!ids.length) return [];
    return this.dataSource
      .getRepository(ScenarioEntity)
      .find({ where: { id: In(ids) }, order: { name: 'ASC' } });
  }

  private async views(runs: GroupArRunEntity[]): Promise<GroupArRunView[]> {
    if (!runs.length) return [];
    const members = await this.dataSource
      .getRepository(GroupArRunMemberEntity)
      .find({ where: { runId: In(runs.map((r) => r.id)) }, order: { position: 'ASC' } });
    const scenarios = await this.dataSource.getRepository(ScenarioEntity).find({
      select: { id: true, name: true },
      where: { id: In([...new Set(members.map((x) => x.scenarioId))]) },
    });
    const groups = await this.dataSource.getRepository(GroupEntity).find({
      select: { id: true, name: true },
      where: { id: In([...new Set(runs.map((r) => r.groupId))]) },
    });
    const results = await this.ar.resultsOfOperations(
      members.map((x) => x.operationId).filter((id): id is string => !!id),
    );
    return runs.map((r) => ({
      id: r.id,
      groupId: r.groupId,
      group: groups.find((g) => g.id === r.groupId)?.name ?? r.groupId,
      state: r.state,
      reason: r.reason,
      requestedBy: r.requestedBy,
      maxParallel: r.maxParallel,
      snapshot: r.snapshot,
      summary: r.summary,
      createdAt: r.createdAt,
      finishedAt: r.finishedAt,
      durationMs: r.finishedAt ? r.finishedAt.getTime() - r.createdAt.getTime() : null,
      members: members
        .filter((x) => x.runId === r.id)
        .map((x) => ({
          scenarioId: x.scenarioId,
          name: scenarios.find((s) => s.id === x.scenarioId)?.name ?? x.scenarioId,
          state: x.state,
          operationId: x.operationId,
          arResult: x.arResult,
          error: x.error,
          startedAt: x.startedAt,
          finishedAt: x.finishedAt,
          result: results.find((v) => v.operationId === x.operationId) ?? null,
        })),
    }));
  }
}
