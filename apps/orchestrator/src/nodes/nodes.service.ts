import { Injectable } from '@nestjs/common';
import { InjectRepository } from '@nestjs/typeorm';
import { DataSource, QueryFailedError, Repository } from 'typeorm';
import { AuditService } from '../audit/audit.service';
import { TopologyService } from '../topology/topology.service';
import { AuthService } from '../auth/auth.service';
import { hashToken, newToken } from '../auth/token-hash';
import { Page } from '../common/dtos/pagination.dto';
import { ConflictError, NotFoundError } from '../common/errors';
import { CreateNodeDto, ListNodesQuery, NodeCredentialsView, NodeView, UpdateNodeDto } from './dtos/node.dto';
import { NodeEntity } from './node.entity';

export function isUniqueViolation(err: unknown): boolean {
  return err instanceof QueryFailedError && (err as unknown as { code?: string }).code === '23505';
}
export function isForeignKeyViolation(err: unknown): boolean {
  return err instanceof QueryFailedError && (err as unknown as { code?: string }).code === '23503';
}

export function toNodeView(n: NodeEntity): NodeView {
  return {
    id: n.id,
    name: n.name,
    address: n.address,
    agentUrl: n.agentUrl,
    labels: n.labels,
    createdAt: n.createdAt,
    updatedAt: n.updatedAt,
  };
}

@Injectable()
export class NodesService {
  constructor(
    @InjectRepository(NodeEntity) private readonly repo: Repository<NodeEntity>,
    private readonly dataSource: DataSource,
    private readonly audit: AuditService,
    private readonly topology: TopologyService,
    private readonly auth: AuthService,
  ) {}

  async create(dto: CreateNodeDto, actor: string): Promise<NodeCredentialsView> {
    try {
      return (await this.createAll([dto], actor))[0];
    } catch (err) {
      if (isUniqueViolation(err))
        throw new ConflictError(`a node named ${dto.name} already exists`, { field: 'name' });
      throw err;
    }
  }

  /**
   * Registers many nodes in one transaction (all or none) and reloads the topology once: a
   * thousand nodes one by one would reload it a thousand times on every instance.
   */
  async createMany(dtos: CreateNodeDto[], actor: string): Promise<NodeCredentialsView[]> {
    const seen = new Map<string, number>();
    dtos.forEach((d, i) => {
      const first = seen.get(d.name);
      if (first !== undefined)
        throw new ConflictError(
          `node name ${d.name} appears twice in the request (nodes[${first}], nodes[${i}])`,
          {
            field: `nodes[${i}].name`,
          },
        );
      seen.set(d.name, i);
    });
    try {
      return await this.createAll(dtos, actor);
    } catch (err) {
      if (!isUniqueViolation(err)) throw err;
      const taken = await this.repo
        .createQueryBuilder('n')
        .select('n.name', 'name')
        .where('n.name IN (:...names)', { names: dtos.map((d) => d.name) })
        .getRawMany<{ name: string }>();
      const i = dtos.findIndex((d) => taken.some((t) => t.name === d.name));
      throw new ConflictError(`a node named ${dtos[Math.max(0, i)].name} already exists`, {
        field: `nodes[${Math.max(0, i)}].name`,
      });
    }
  }

  private async createAll(dtos: CreateNodeDto[], actor: string): Promise<NodeCredentialsView[]> {
    const tokens = dtos.map(() => ({ agentToken: newToken('hag'), actionToken: newToken('haa') }));
    const created = await this.dataSource.transaction(async (m) => {
      const repo = m.getRepository(NodeEntity);
      const nodes = await repo.save(
        dtos.map((dto, i) =>
          repo.create({
            name: dto.name,
            address: dto.address,
            agentUrl: dto.agentUrl.replace(/\/+$/, ''),
            labels: dto.labels ?? {},
            agentTokenHash: hashToken(tokens[i].agentToken),
            actionToken: tokens[i].actionToken,
          }),
        ),
        { chunk: 500 },
      );
      await this.audit.recordMany(
        nodes.map((node) => ({ actor, action: 'node.create', targetType: 'node', targetId: node.id })),
        m,
      );
      return nodes.map((node, i) => ({ node: toNodeView(node), ...tokens[i] }));
    });
    await this.topology.changed();
    return created;
  }

  async list(q: ListNodesQuery): Promise<Page<NodeView>> {
    const qb = this.repo.createQueryBuilder('n').orderBy('n.name').take(q.limit).skip(q.offset);
    if (q.label) {
      const [k, v] = [q.label.slice(0, q.label.indexOf('=')), q.label.slice(q.label.indexOf('=') + 1)];
      qb.andWhere('n.labels @> :l::jsonb', { l: JSON.stringify({ [k]: v }) });
    }
    const [items, total] = await qb.getManyAndCount();
    return { items: items.map(toNodeView), total, limit: q.limit, offset: q.offset };
  }

  async get(id: string): Promise<NodeEntity> {
    const node = await this.repo.findOne({ where: { id } });
    if (!node) throw new NotFoundError('node', id);
    return node;
  }

  /** With the action token, for the agent client only. */
  /** Several nodes with their action tokens, in one query (absent ids are simply missing). */
  async manyWithSecrets(ids: string[]): Promise<Map<string, NodeEntity>> {
    if (ids.length === 0) return new Map();
    const nodes = await this.repo
      .createQueryBuilder('n')
      .addSelect('n.actionToken')
      .where('n.id IN (:...ids)', { ids })
      .getMany();
    return new Map(nodes.map((n) => [n.id, n]));
  }

  async getWithSecrets(id: string): Promise<NodeEntity> {
    const node = await this.repo
      .createQueryBuilder('n')
      .addSelect('n.actionToken')
      .where('n.id = :id', { id })
      .getOne();
    if (!node) throw new NotFoundError('node', id);
    return node;
  }

  async update(id: string, dto: UpdateNodeDto, actor: string): Promise<NodeView> {
    try {
      const view = await this.dataSource.transaction(async (m) => {
        const repo = m.getRepository(NodeEntity);
        const node = await repo.findOne({ where: { id }, lock: { mode: 'pessimistic_write' } });
        if (!node) throw new NotFoundError('node', id);
        Object.assign(node, {
          ...(dto.name !== undefined && { name: dto.name }),
          ...(dto.address !== undefined && { address: dto.address }),
          ...(dto.agentUrl !== undefined && { agentUrl: dto.agentUrl.replace(/\/+$/, '') }),
          ...(dto.labels !== undefined && { labels: dto.labels }),
        });
        const saved = await repo.save(node);
        await this.audit.record(
          {
            actor,
            action: 'node.update',
            targetType: 'node',
            targetId: id,
            details: { fields: Object.keys(dto) },
          },
          m,
        );
        return toNodeView(saved);
      });
      await this.topology.changed();
      return view;
    } catch (err) {
      if (isUniqueViolation(err))
        throw new ConflictError(`a node named ${dto.name} already exists`, { field: 'name' });
      throw err;
    }
  }

  async rotateTokens(id: string, actor: string): Promise<NodeCredentialsView> {
    const agentToken = newToken('hag');
    const actionToken = newToken('haa');
    return this.dataSource.transaction(async (m) => {
      const repo = m.getRepository(NodeEntity);
      const node = await repo.findOne({ where: { id }, lock: { mode: 'pessimistic_write' } });
      if (!node) throw new NotFoundError('node', id);
      await repo.update(id, { agentTokenHash: hashToken(agentToken), actionToken });
      await this.audit.record({ actor, action: 'node.rotate-tokens', targetType: 'node', targetId: id }, m);
      this.auth.invalidate();
      return { node: toNodeView(node), agentToken, actionToken };
    });
  }

  async remove(id: string, actor: string): Promise<void> {
    try {
      await this.dataSource.transaction(async (m) => {
        const repo = m.getRepository(NodeEntity);
        const node = await repo.findOne({ where: { id }, lock: { mode: 'pessimistic_write' } });
        if (!node) throw new NotFoundError('node', id);
        await repo.delete(id);
        await this.audit.record({ actor, action: 'node.delete', targetType: 'node', targetId: id }, m);
      });
      this.auth.invalidate();
      await this.topology.changed();
    } catch (err) {
      if (isForeignKeyViolation(err)) {
        throw new ConflictError('node is used by a scenario; remove it from the scenario first', {
          nodeId: id,
        });
      }
      throw err;
    }
  }
}
