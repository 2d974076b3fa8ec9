import { Injectable } from '@nestjs/common';
import { InjectRepository } from '@nestjs/typeorm';
import { DataSource, EntityManager, In, Repository } from 'typeorm';
import { AuditService } from '../audit/audit.service';
import { Page } from '../common/dtos/pagination.dto';
import { ConflictError, NotFoundError, OperationInProgressError } from '../common/errors';
import { isForeignKeyViolation, isUniqueViolation } from '../nodes/nodes.service';
import { ScenarioEntity } from '../scenarios/scenario.entity';
import { CreateGroupDto, GroupView, ListGroupsQuery, UpdateGroupDto } from './dtos/group.dto';
import { GroupEntity, GroupMemberEntity } from './group.entity';
import { pushTo } from '../common/push-to';

export function toGroupView(g: GroupEntity, scenarioIds: string[]): GroupView {
  return {
    id: g.id,
    name: g.name,
    description: g.description,
    switchAllIfAnyFails: g.switchAllIfAnyFails,
    switchManualMembers: g.switchManualMembers,
    scenarioIds,
    createdAt: g.createdAt,
    updatedAt: g.updatedAt,
  };
}

@Injectable()
export class GroupsService {
  constructor(
    @InjectRepository(GroupEntity) private readonly repo: Repository<GroupEntity>,
    private readonly dataSource: DataSource,
    private readonly audit: AuditService,
  ) {}

  async create(dto: CreateGroupDto, actor: string): Promise<GroupView> {
    const scenarioIds = dto.scenarioIds ?? [];
    const id = await this.write(dto.name, async (m) => {
      await this.assertScenarios(m, scenarioIds);
      const repo = m.getRepository(GroupEntity);
      const g = await repo.save(
        repo.create({
          name: dto.name,
          description: dto.description ?? '',
          switchAllIfAnyFails: dto.switchAllIfAnyFails ?? false,
          switchManualMembers: dto.switchManualMembers ?? true,
        }),
      );
      if (scenarioIds.length) {
        await m
          .getRepository(GroupMemberEntity)
          .insert(scenarioIds.map((scenarioId) => ({ groupId: g.id, scenarioId })));
      }
      await this.audit.record(
        {
          actor,
          action: 'group.create',
          targetType: 'group',
          targetId: g.id,
          details: { name: g.name, scenarioIds },
        },
        m,
      );
      return g.id;
    });
    return this.get(id);
  }

  async list(q: ListGroupsQuery): Promise<Page<GroupView>> {
    const qb = this.repo.createQueryBuilder('g').orderBy('g.name').take(q.limit).skip(q.offset);
    if (q.scenarioId) {
      qb.andWhere('g.id IN (SELECT gm."groupId" FROM group_members gm WHERE gm."scenarioId" = :sid)', {
        sid: q.scenarioId,
      });
    }
    const [groups, total] = await qb.getManyAndCount();
    const members = await this.membersOf(
      this.dataSource.manager,
      groups.map((g) => g.id),
    );
    return {
      items: groups.map((g) => toGroupView(g, members.get(g.id) ?? [])),
      total,
      limit: q.limit,
      offset: q.offset,
    };
  }

  async get(id: string): Promise<GroupView> {
    const g = await this.repo.findOne({ where: { id } });
    if (!g) throw new NotFoundError('group', id);
    return toGroupView(g, (await this.membersOf(this.dataSource.manager, [id])).get(id) ?? []);
  }

  /** Groups with switch-all-if-any-fails that hold this scenario (for the detector; rarely called). */
  /** The switch-all-if-any-fails groups of many scenarios, in two queries: scenario id → its groups (by name). */
  async switchAllGroupsOfMany(scenarioIds: string[]): Promise<Map<string, GroupView[]>> {
    const out = new Map<string, GroupView[]>();
    if (scenarioIds.length === 0) return out;
    const groups = await this.repo
      .createQueryBuilder('g')
      .where('g.switchAllIfAnyFails')
      .andWhere('g.id IN (SELECT gm."groupId" FROM group_members gm WHERE gm."scenarioId" = ANY(:sids))', {
        sids: scenarioIds,
      })
      .orderBy('g.name')
      .getMany();
    if (groups.length === 0) return out;
    const members = await this.membersOf(
      this.dataSource.manager,
      groups.map((g) => g.id),
    );
    const wanted = new Set(scenarioIds);
    for (const g of groups) {
      const view = toGroupView(g, members.get(g.id) ?? []);
      for (const sid of view.scenarioIds) {
        if (!wanted.has(sid)) continue;
        pushTo(out, sid, view);
      }
    }
    return out;
  }

  async update(id: string, dto: UpdateGroupDto, actor: string): Promise<GroupView> {
    await this.write(dto.name, async (m) => {
      const repo = m.getRepository(GroupEntity);
      const g = await this.lockGroup(m, id);
      Object.assign(g, {
        ...(dto.name !== undefined && { name: dto.name }),
        ...(dto.description !== undefined && { description: dto.description }),
        ...(dto.switchAllIfAnyFails !== undefined && { switchAllIfAnyFails: dto.switchAllIfAnyFails }),
        ...(dto.switchManualMembers !== undefined && { switchManualMembers: dto.switchManualMembers }),
      });
      await repo.save(g);
      await this.audit.record(
        {
          actor,
          action: 'group.update',
          targetType: 'group',
          targetId: id,
          details: { fields: Object.keys(dto) },
        },
        m,
      );
    });
    return this.get(id);
  }

  async remove(id: string, actor: string): Promise<void> {
    await this.dataSource.transaction(async (m) => {
      const g = await this.lockGroup(m, id);
      const running: { id: string }[] = await m.query(
        `SELECT id FROM operations WHERE "groupId" = $1 AND state IN ('pending', 'running') LIMIT 1`,
        [id],
      );
      if (running.length) throw new OperationInProgressError(running[0].id);
      // Members go with the group (ON DELETE CASCADE); the scenarios themselves stay.
      await m.getRepository(GroupEntity).delete(id);
      await this.audit.record(
        { actor, action: 'group.delete', targetType: 'group', targetId: id, details: { name: g.name } },
        m,
      );
    });
  }

  /** Replace the member list; only the difference is written. */
  async setMembers(id: string, scenarioIds: string[], actor: string): Promise<GroupView> {
    await this.write(undefined, async (m) => {
      await this.lockGroup(m, id);
      await this.assertScenarios(m, scenarioIds);
      const current = (await this.membersOf(m, [id])).get(id) ?? [];
      const wanted = new Set(scenarioIds);
      const added = scenarioIds.filter((s) => !current.includes(s));
      const removed = current.filter((s) => !wanted.has(s));
      if (!added.length && !removed.length) return;
      const members = m.getRepository(GroupMemberEntity);
      if (removed.length) await members.delete({ groupId: id, scenarioId: In(removed) });
      if (added.length) await members.insert(added.map((scenarioId) => ({ groupId: id, scenarioId })));
      await this.touch(m, id);
      await this.audit.record(
        {
          actor,
          action: 'group.members.set',
          targetType: 'group',
          targetId: id,
          details: { added, removed },
        },
        m,
      );
    });
    return this.get(id);
  }

  /** Adding a scenario that is already a member changes nothing. */
  async addMember(id: string, scenarioId: string, actor: string): Promise<GroupView> {
    await this.write(undefined, async (m) => {
      await this.lockGroup(m, id);
      await this.assertScenarios(m, [scenarioId]);
      const inserted: unknown[] = await m.query(
        `INSERT INTO group_members ("groupId", "scenarioId") VALUES ($1, $2)
         ON CONFLICT DO NOTHING RETURNING "scenarioId"`,
        [id, scenarioId],
      );
      if (!inserted.length) return;
      await this.touch(m, id);
      await this.audit.record(
        { actor, action: 'group.members.add', targetType: 'group', targetId: id, details: { scenarioId } },
        m,
      );
    });
    return this.get(id);
  }

  async removeMember(id: string, scenarioId: string, actor: string): Promise<void> {
    await this.dataSource.transaction(async (m) => {
      await this.lockGroup(m, id);
      const res = await m.getRepository(GroupMemberEntity).delete({ groupId: id, scenarioId });
      if (!res.affected) throw new NotFoundError('member scenario', scenarioId);
      await this.touch(m, id);
      await this.audit.record(
        { actor, action: 'group.members.remove', targetType: 'group', targetId: id, details: { scenarioId } },
        m,
      );
    });
  }

  /** Member scenario ids per group, in a stable order (by scenario name). */
  private async membersOf(m: EntityManager, groupIds: string[]): Promise<Map<string, string[]>> {
    const out = new Map<string, string[]>();
    if (!groupIds.length) return out;
    const rows: { groupId: string; scenarioId: string }[] = await m
      .getRepository(GroupMemberEntity)
      .createQueryBuilder('gm')
      .innerJoin('gm.scenario', 's')
      .select(['gm.groupId AS "groupId"', 'gm.scenarioId AS "scenarioId"'])
      .where('gm.groupId IN (:...groupIds)', { groupIds })
      .orderBy('s.name')
      .getRawMany();
    for (const r of rows) out.set(r.groupId, [...(out.get(r.groupId) ?? []), r.scenarioId]);
    return out;
  }

  private async lockGroup(m: EntityManager, id: string): Promise<GroupEntity> {
    const g = await m
      .getRepository(GroupEntity)
      .findOne({ where: { id }, lock: { mode: 'pessimistic_write' } });
    if (!g) throw new NotFoundError('group', id);
    return g;
  }

  private async touch(m: EntityManager, id: string): Promise<void> {
    await m.getRepository(GroupEntity).update(id, { updatedAt: () => 'now()' });
  }

  private async assertScenarios(m: EntityManager, ids: string[]): Promise<void> {
    if (!ids.length) return;
    const found = new Set(
      (await m.getRepository(ScenarioEntity).find({ where: { id: In(ids) }, select: ['id'] })).map(
        (s) => s.id,
      ),
    );
    const missing = ids.find((id) => !found.has(id));
    if (missing) throw new NotFoundError('scenario', missing);
  }

  /** Runs a write transaction, mapping a duplicate name to 409 and a scenario deleted meanwhile to 404. */
  private async write<T>(name: string | undefined, fn: (m: EntityManager) => Promise<T>): Promise<T> {
    try {
      return await this.dataSource.transaction(fn);
    } catch (err) {
      if (isUniqueViolation(err)) {
        throw name === undefined
          ? new ConflictError('the group changed concurrently; retry')
          : new ConflictError(`a group named ${name} already exists`, { field: 'name' });
      }
      if (isForeignKeyViolation(err)) throw new NotFoundError('scenario', 'in scenarioIds');
      throw err;
    }
  }
}
