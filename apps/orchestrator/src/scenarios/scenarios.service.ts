import { randomBytes, randomUUID } from 'node:crypto';
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
import { FailoverPolicy } from './scenario.types';
import { normalizeVerifyClients } from './verify-clients';
import { normalizeFailback } from './failback-window';

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

/** Runs `fn`; an input error from it names its field under `prefix` (`scenarios[3].dnsRecords[0].name`). */
function withField<T>(prefix: string, fn: () => T): T {
  if (!prefix) return fn();
  try {
    return fn();
  } catch (err) {
    if (err instanceof InvalidInputError)
      throw new InvalidInputError(err.message, `${prefix}${err.field ?? ''}`);
    throw err;
  }
}

@Injectable()
export class ScenariosService {
  constructor(
    @InjectRepository(ScenarioEntity) private readonly repo: Repository<ScenarioEntity>,
    private readonly dataSource: DataSource,
    private readonly audit: AuditService,
    private readonly topology: TopologyService,
  ) {}

  async create(dto: CreateScenarioDto, actor: string): Promise<ScenarioView> {
    const [view] = await this.insertMany([dto], actor, () => '');
    return view;
  }

  /**
   * Bulk create: every scenario is checked as by create (fields reported as `scenarios[i].…`),
   * then all are written in one transaction (or none), with one topology reload.
   */
  async createMany(dtos: CreateScenarioDto[], actor: string): Promise<ScenarioView[]> {
    return this.insertMany(dtos, actor, (i) => `scenarios[${i}].`);
  }

  private async insertMany(
    dtos: CreateScenarioDto[],
    actor: string,
    at: (i: number) => string,
  ): Promise<ScenarioView[]> {
    const prepared = dtos.map((dto, i) =>
      withField(at(i), () => {
        if (dto.replicaNodeIds.includes(dto.productionNodeId)) {
          throw new ConflictError('a replica cannot be the production node', {
            field: `${at(i)}replicaNodeIds`,
          });
        }
        const records = this.normalizeRecords(dto.dnsRecords);
        const policy = mergePolicy(DEFAULT_POLICY, dto.policy);
        if (policy.verifyClients)
          policy.verifyClients = normalizeVerifyClients(policy.verifyClients, records);
        if (policy.failback) policy.failback = normalizeFailback(policy.failback);
        return { dto, records, checks: this.normalizeChecks(dto.checks), policy };
      }),
    );
    const names = new Map<string, number>();
    const dnsNames = new Map<string, number>();
    for (const [i, p] of prepared.entries()) {
      if (names.has(p.dto.name)) {
        throw new ConflictError(`scenario name ${p.dto.name} appears twice in the request`, {
          field: `${at(i)}name`,
        });
      }
      names.set(p.dto.name, i);
      for (const name of new Set(p.records.map((r) => r.name))) {
        if (dnsNames.has(name)) {
          throw new ConflictError(`DNS name ${name} appears in two scenarios of the request`, {
            field: `${at(i)}dnsRecords`,
          });
        }
        dnsNames.set(name, i);
      }
    }
    const ids = prepared.map(() => randomUUID());
    try {
      await this.dataSource.transaction(async (m) => {
        // One writer of DNS names at a time: two requests cannot both take the same name.
        await m.query(`SELECT pg_advisory_xact_lock(hashtext('scenarios.dns-names'))`);
        const nodeIds = new Set<string>();
        for (const p of prepared) {
          for (const id of [p.dto.productionNodeId, ...p.dto.replicaNodeIds]) nodeIds.add(id);
          if (p.policy.fencingHook?.nodeId) nodeIds.add(p.policy.fencingHook.nodeId);
        }
        const nodeRows = await m
          .getRepository(NodeEntity)
          .find({ where: { id: In([...nodeIds]) }, select: ['id', 'labels'] });
        const found = new Map(nodeRows.map((n) => [n.id, n]));
        for (const [i, p] of prepared.entries()) {
          for (const id of [p.dto.productionNodeId, ...p.dto.replicaNodeIds, p.policy.fencingHook?.nodeId]) {
            if (id && !found.has(id)) throw new NotFoundError('node', id);
          }
          assertPolicyLabels(
            p.policy,
            [p.dto.productionNodeId, ...p.dto.replicaNodeIds].map((id) => found.get(id)!),
            at(i),
          );
        }
        const taken: { name: string }[] = await m.query(`SELECT name FROM scenarios WHERE name = ANY($1)`, [
          [...names.keys()],
        ]);
        if (taken.length > 0) {
          throw new ConflictError(`a scenario named ${taken[0].name} already exists`, {
            field: `${at(names.get(taken[0].name)!)}name`,
          });
        }
        const clash: { id: string; name: string; dns: string }[] = await m.query(
          `SELECT s.id, s.name, lower(e->>'name') AS dns
             FROM scenarios s, jsonb_array_elements(s."dnsRecords") e WHERE lower(e->>'name') = ANY($1) LIMIT 1`,
          [[...dnsNames.keys()]],
        );
        if (clash.length > 0) {
          throw new ConflictError(`DNS name ${clash[0].dns} already belongs to scenario ${clash[0].name}`, {
            field: `${at(dnsNames.get(clash[0].dns)!)}dnsRecords`,
            scenarioId: clash[0].id,
          });
        }
        const repo = m.getRepository(ScenarioEntity);
        const rows = prepared.map((p, i) =>
          repo.create({
            id: ids[i],
            name: p.dto.name,
            productionNodeId: p.dto.productionNodeId,
            activeNodeId: p.dto.productionNodeId,
            dnsRecords: p.records,
            failoverMode: p.dto.failoverMode ?? 'manual',
            checks: p.checks,
            policy: p.policy,
            state: 'stopped',
            epoch: 1,
            peerToken: randomBytes(24).toString('base64url'),
            holdUntil: null,
            arSchedule: p.dto.arSchedule ?? null,
            arSnapshot: p.dto.arSnapshot ?? false,
          }),
        );
        for (let from = 0; from < rows.length; from += 250) {
          await repo.insert(rows.slice(from, from + 250) as never);
        }
        await m
          .getRepository(ScenarioReplicaEntity)
          .insert(
            prepared.flatMap((p, i) =>
              p.dto.replicaNodeIds.map((nodeId, position) => ({ scenarioId: ids[i], nodeId, position })),
            ),
          );
        await this.audit.recordMany(
          ids.map((id) => ({ actor, action: 'scenario.create', targetType: 'scenario', targetId: id })),
          m,
        );
      });
    } catch (err) {
      if (isUniqueViolation(err))
        throw new ConflictError('a scenario with one of these names already exists', {
          field: `${at(0)}name`,
        });
      throw err;
    }
    await this.topology.changed();
    const created = await this.repo.find({ where: { id: In(ids) }, relations: { replicas: true } });
    const byId = new Map(created.map((c) => [c.id, c]));
    return ids.map((id) => toScenarioView(byId.get(id)!));
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
      if (dto.policy?.failback) policy.failback = normalizeFailback(policy.failback);
      if (topologyChange || dto.policy?.fencingHook) {
        await this.assertNodes(m, production, replicaIds, policy.fencingHook?.nodeId);
      }
      if (topologyChange || dto.policy?.requiredLabels || dto.policy?.preferredLabels) {
        const nodes = await m
          .getRepository(NodeEntity)
          .find({ where: { id: In([production, ...replicaIds]) }, select: ['id', 'labels'] });
        assertPolicyLabels(policy, nodes, '');
      }
      if (dto.dnsRecords) {
        s.dnsRecords = this.normalizeRecords(dto.dnsRecords);
        await m.query(`SELECT pg_advisory_xact_lock(hashtext('scenarios.dns-names'))`);
        await this.assertRecordsFree(m, s.dnsRecords, id);
      }
      // Checked against the records the scenario will have (a probe must name one of them).
      if (policy.verifyClients && (dto.policy?.verifyClients || dto.dnsRecords)) {
        policy.verifyClients = normalizeVerifyClients(policy.verifyClients, s.dnsRecords);
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
    const out = records.map((r, i) => {
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
    const types = new Map<string, string[]>();
    for (const r of out) types.set(r.name, [...(types.get(r.name) ?? []), r.type]);
    for (const [name, t] of types) {
      if (t.includes('CNAME') && t.length > 1) {
        throw new InvalidInputError(`${name}: a CNAME owner cannot have other records`, 'dnsRecords');
      }
    }
    return out;
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
  }
}

/**
 * A label the promotion policy requires or prefers must be carried by at least one node of the
 * scenario: otherwise it names a label that does not exist there (a typo, or the wrong site).
 */
function assertPolicyLabels(
  policy: FailoverPolicy,
  nodes: Pick<NodeEntity, 'labels'>[],
  prefix: string,
): void {
  for (const key of ['requiredLabels', 'preferredLabels'] as const) {
    for (const [k, v] of Object.entries(policy[key] ?? {})) {
      if (!nodes.some((n) => n.labels?.[k] === v)) {
        throw new InvalidInputError(
          `${prefix}policy.${key}.${k}: no node of this scenario has the label ${k}=${v}`,
          `${prefix}policy.${key}.${k}`,
        );
      }
    }
  }
}
