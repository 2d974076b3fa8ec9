import { randomBytes } from 'node:crypto';
import { Injectable } from '@nestjs/common';
import { InjectRepository } from '@nestjs/typeorm';
import { DataSource, EntityManager, In, Repository } from 'typeorm';
import { AuditService } from '../audit/audit.service';
import { TopologyService } from '../topology/topology.service';
import { Page } from '../common/dtos/pagination.dto';
import { ConflictError, InvalidInputError, InvalidStateError, NotFoundError } from '../common/errors';
import { NodeEntity } from '../nodes/node.entity';
import { isUniqueViolation } from '../nodes/nodes.service';
import {
  CheckDto,
  CreateScenarioDto,
  DnsRecordDto,
  ListScenariosQuery,
  ScenarioView,
  UpdateScenarioDto,
} from './dtos/scenario.dto';
import { DEFAULT_CHECKS, DEFAULT_POLICY, mergePolicy, normalizeCheck } from './scenario-defaults';
import { ScenarioReplicaEntity } from './scenario-replica.entity';
import { ScenarioEntity } from './scenario.entity';

export function toScenarioView(s: ScenarioEntity): ScenarioView {
  return {
    id: s.id,
    name: s.name,
    productionNodeId: s.productionNodeId,
    replicaNodeIds: [...(s.replicas ?? [])].sort((a, b) => a.position - b.position).map((r) => r.nodeId),
    activeNodeId: s.activeNodeId,
    dnsRecords: s.dnsRecords,
    failoverMode: s.failoverMode,
    checks: s.checks,
    policy: s.policy,
    state: s.state,
    epoch: s.epoch,
    arSchedule: s.arSchedule,
    arSnapshot: s.arSnapshot,
    holdUntil: s.holdUntil,
    createdAt: s.createdAt,
    updatedAt: s.updatedAt,
  };
}

const lower = (s: string) => s.toLowerCase().replace(/\.$/, '');

@Injectable()
export class ScenariosService {
  constructor(
    @InjectRepository(ScenarioEntity) private readonly repo: Repository<ScenarioEntity>,
    private readonly dataSource: DataSource,
    private readonly audit: AuditService,
    private readonly topology: TopologyService,
  ) {}

  async create(dto: CreateScenarioDto, actor: string): Promise<ScenarioView> {
    const records = this.normalizeRecords(dto.dnsRecords);
    const checks = this.normalizeChecks(dto.checks);
    const policy = mergePolicy(DEFAULT_POLICY, dto.policy);
    try {
      const id = await this.dataSource.transaction(async (m) => {
        await this.assertNodes(m, dto.productionNodeId, dto.replicaNodeIds, policy.fencingHook?.nodeId);
        await this.assertRecordsFree(m, records, null);
        const repo = m.getRepository(ScenarioEntity);
        const s = await repo.save(
          repo.create({
            name: dto.name,
            productionNodeId: dto.productionNodeId,
            activeNodeId: dto.productionNodeId,
            dnsRecords: records,
            failoverMode: dto.failoverMode ?? 'manual',
            checks,
            policy,
            state: 'stopped',
            epoch: 1,
            peerToken: randomBytes(24).toString('base64url'),
            holdUntil: null,
            arSchedule: dto.arSchedule ?? null,
            arSnapshot: dto.arSnapshot ?? false,
          }),
        );
        await m
          .getRepository(ScenarioReplicaEntity)
          .insert(dto.replicaNodeIds.map((nodeId, position) => ({ scenarioId: s.id, nodeId, position })));
        await this.audit.record(
          { actor, action: 'scenario.create', targetType: 'scenario', targetId: s.id },
          m,
        );
        return s.id;
      });
      await this.topology.changed();
      return toScenarioView(await this.get(id));
    } catch (err) {
      if (isUniqueViolation(err))
        throw new ConflictError(`a scenario named ${dto.name} already exists`, { field: 'name' });
      throw err;
    }
  }

  async list(q: ListScenariosQuery): Promise<Page<ScenarioView>> {
    const qb = this.repo
      .createQueryBuilder('s')
      .leftJoinAndSelect('s.replicas', 'r')
      .orderBy('s.name')
      .take(q.limit)
      .skip(q.offset);
    if (q.state) qb.andWhere('s.state = :state', { state: q.state });
    if (q.groupId) {
      qb.andWhere('s.id IN (SELECT gm."scenarioId" FROM group_members gm WHERE gm."groupId" = :gid)', {
        gid: q.groupId,
      });
    }
    if (q.nodeId) {
      qb.andWhere(
        '(s.productionNodeId = :nid OR s.activeNodeId = :nid OR s.id IN (SELECT sr."scenarioId" FROM scenario_replicas sr WHERE sr."nodeId" = :nid))',
        { nid: q.nodeId },
      );
    }
    if (q.label) {
      const i = q.label.indexOf('=');
      qb.andWhere('s.productionNodeId IN (SELECT n.id FROM nodes n WHERE n.labels @> :l::jsonb)', {
        l: JSON.stringify({ [q.label.slice(0, i)]: q.label.slice(i + 1) }),
      });
    }
    const [items, total] = await qb.getManyAndCount();
    return { items: items.map(toScenarioView), total, limit: q.limit, offset: q.offset };
  }

  async get(id: string, manager?: EntityManager): Promise<ScenarioEntity> {
    const repo = manager ? manager.getRepository(ScenarioEntity) : this.repo;
    const s = await repo.findOne({ where: { id }, relations: { replicas: true } });
    if (!s) throw new NotFoundError('scenario', id);
    return s;
  }

  async update(id: string, dto: UpdateScenarioDto, actor: string): Promise<ScenarioView> {
    await this.dataSource.transaction(async (m) => {
      const repo = m.getRepository(ScenarioEntity);
      const s = await repo.findOne({ where: { id }, lock: { mode: 'pessimistic_write' } });
      if (!s) throw new NotFoundError('scenario', id);
      const replicas = await m.getRepository(ScenarioReplicaEntity).find({ where: { scenarioId: id } });
      const topologyChange = dto.productionNodeId !== undefined || dto.replicaNodeIds !== undefined;
      if ((topologyChange || dto.dnsRecords !== undefined) && s.state !== 'stopped') {
        throw new InvalidStateError(`scenario is ${s.state}: stop it before changing nodes or DNS records`, {
          state: s.state,
        });
      }
      const production = dto.productionNodeId ?? s.productionNodeId;
      const replicaIds =
        dto.replicaNodeIds ?? [...replicas].sort((a, b) => a.position - b.position).map((r) => r.nodeId);
      const policy = mergePolicy(s.policy, dto.policy);
      if (topologyChange || dto.policy?.fencingHook) {
        await this.assertNodes(m, production, replicaIds, policy.fencingHook?.nodeId);
      }
      if (dto.dnsRecords) {
        s.dnsRecords = this.normalizeRecords(dto.dnsRecords);
        await this.assertRecordsFree(m, s.dnsRecords, id);
      }
      if (dto.checks) s.checks = this.normalizeChecks(dto.checks);
      if (dto.failoverMode) s.failoverMode = dto.failoverMode;
      if (dto.arSchedule !== undefined) s.arSchedule = dto.arSchedule;
      if (dto.arSnapshot !== undefined) s.arSnapshot = dto.arSnapshot;
      s.policy = policy;
      if (topologyChange) {
        s.productionNodeId = production;
        s.activeNodeId = production;
        await m.getRepository(ScenarioReplicaEntity).delete({ scenarioId: id });
        await m
          .getRepository(ScenarioReplicaEntity)
          .insert(replicaIds.map((nodeId, position) => ({ scenarioId: id, nodeId, position })));
      }
      await repo.save(s);
      await this.audit.record(
        {
          actor,
          action: 'scenario.update',
          targetType: 'scenario',
          targetId: id,
          details: { fields: Object.keys(dto) },
        },
        m,
      );
    });
    await this.topology.changed();
    return toScenarioView(await this.get(id));
  }

  async remove(id: string, actor: string): Promise<void> {
    await this.dataSource.transaction(async (m) => {
      const repo = m.getRepository(ScenarioEntity);
      const s = await repo.findOne({ where: { id }, lock: { mode: 'pessimistic_write' } });
      if (!s) throw new NotFoundError('scenario', id);
      if (s.state !== 'stopped') {
        throw new InvalidStateError(`scenario is ${s.state}: stop it before deleting`, { state: s.state });
      }
      await repo.delete(id);
      await m.query('DELETE FROM dns_records WHERE "scenarioId" = $1', [id]);
      await this.audit.record({ actor, action: 'scenario.delete', targetType: 'scenario', targetId: id }, m);
    });
    await this.topology.changed();
  }

  private normalizeChecks(checks: CheckDto[] | undefined) {
    if (!checks) return DEFAULT_CHECKS.map((c) => ({ ...c }));
    const names = new Set<string>();
    return checks.map((c, i) => {
      if (names.has(c.name))
        throw new InvalidInputError(`duplicate check name ${c.name}`, `checks[${i}].name`);
      names.add(c.name);
      if (c.kind === 'tcp' && !c.port)
        throw new InvalidInputError('a tcp check needs port', `checks[${i}].port`);
      if ((c.kind === 'http' || c.kind === 'database') && !c.target) {
        throw new InvalidInputError(`a ${c.kind} check needs target`, `checks[${i}].target`);
      }
      if (c.kind === 'user' && !c.agentCheck) {
        throw new InvalidInputError('a user check needs agentCheck', `checks[${i}].agentCheck`);
      }
      return normalizeCheck(c);
    });
  }

  private normalizeRecords(records: DnsRecordDto[]) {
    const seen = new Set<string>();
    return records.map((r, i) => {
      const zone = lower(r.zone);
      const name = lower(r.name);
      if (name !== zone && !name.endsWith(`.${zone}`)) {
        throw new InvalidInputError(`${name} is not inside zone ${zone}`, `dnsRecords[${i}].name`);
      }
      if (r.type === 'CNAME' && name === zone) {
        throw new InvalidInputError('a CNAME cannot sit at the zone apex', `dnsRecords[${i}].name`);
      }
      const key = `${name}/${r.type}`;
      if (seen.has(key)) throw new InvalidInputError(`duplicate record ${key}`, `dnsRecords[${i}]`);
      seen.add(key);
      return { zone, name, type: r.type, ttl: r.ttl };
    });
  }

  private async assertNodes(m: EntityManager, production: string, replicas: string[], hookNode?: string) {
    if (replicas.includes(production)) {
      throw new ConflictError('a replica cannot be the production node', { field: 'replicaNodeIds' });
    }
    const ids = [production, ...replicas, ...(hookNode ? [hookNode] : [])];
    const found = new Set(
      (await m.getRepository(NodeEntity).find({ where: { id: In(ids) }, select: ['id'] })).map((n) => n.id),
    );
    if (!found.has(production)) throw new NotFoundError('node', production);
    for (const r of replicas) if (!found.has(r)) throw new NotFoundError('node', r);
    if (hookNode && !found.has(hookNode)) throw new NotFoundError('node', hookNode);
  }

  /** A DNS name can belong to one scenario only (and a CNAME owner can hold nothing else). */
  private async assertRecordsFree(
    m: EntityManager,
    records: { name: string; type: string }[],
    selfId: string | null,
  ) {
    for (const r of records) {
      const clash = await m.query(
        `SELECT id, name FROM scenarios WHERE id <> $2::uuid AND EXISTS (
           SELECT 1 FROM jsonb_array_elements("dnsRecords") e WHERE lower(e->>'name') = $1)`,
        [r.name, selfId ?? '00000000-0000-0000-0000-000000000000'],
      );
      if (clash.length > 0) {
        throw new ConflictError(`DNS name ${r.name} already belongs to scenario ${clash[0].name}`, {
          field: 'dnsRecords',
          scenarioId: clash[0].id,
        });
      }
    }
    const names = new Map<string, string[]>();
    for (const r of records) names.set(r.name, [...(names.get(r.name) ?? []), r.type]);
    for (const [name, types] of names) {
      if (types.includes('CNAME') && types.length > 1) {
        throw new InvalidInputError(`${name}: a CNAME owner cannot have other records`, 'dnsRecords');
      }
    }
  }
}
