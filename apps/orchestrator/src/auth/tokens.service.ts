import { Injectable } from '@nestjs/common';
import { InjectRepository } from '@nestjs/typeorm';
import { DataSource, IsNull, Repository } from 'typeorm';
import { AuditService } from '../audit/audit.service';
import { Page } from '../common/dtos/pagination.dto';
import { ConflictError, InvalidInputError, NotFoundError } from '../common/errors';
import { isUniqueViolation } from '../nodes/nodes.service';
import { ApiTokenEntity } from './api-token.entity';
import { AuthService } from './auth.service';
import { CreateTokenDto, ListTokensQuery, TokenCreatedView, TokenView } from './dtos/token.dto';
import { hashToken, newToken } from './token-hash';

/** Actor names the system uses itself; a token with one of them would blur the audit log. */
const RESERVED_NAMES = new Set(['bootstrap-admin', 'system', 'anonymous']);

export function toTokenView(t: ApiTokenEntity): TokenView {
  return {
    id: t.id,
    name: t.name,
    role: t.role,
    createdBy: t.createdBy,
    createdAt: t.createdAt,
    revokedAt: t.revokedAt,
  };
}

@Injectable()
export class TokensService {
  constructor(
    @InjectRepository(ApiTokenEntity) private readonly repo: Repository<ApiTokenEntity>,
    private readonly dataSource: DataSource,
    private readonly audit: AuditService,
    private readonly auth: AuthService,
  ) {}

  async create(dto: CreateTokenDto, actor: string): Promise<TokenCreatedView> {
    if (RESERVED_NAMES.has(dto.name)) throw new InvalidInputError(`name ${dto.name} is reserved`, 'name');
    const token = newToken('hat');
    try {
      return await this.dataSource.transaction(async (m) => {
        const repo = m.getRepository(ApiTokenEntity);
        const row = await repo.save(
          repo.create({
            name: dto.name,
            role: dto.role,
            tokenHash: hashToken(token),
            createdBy: actor,
            revokedAt: null,
          }),
        );
        await this.audit.record(
          {
            actor,
            action: 'token.create',
            targetType: 'token',
            targetId: row.id,
            details: { name: dto.name, role: dto.role },
          },
          m,
        );
        return { ...toTokenView(row), token };
      });
    } catch (err) {
      if (isUniqueViolation(err))
        throw new ConflictError(`a token named ${dto.name} already exists`, { field: 'name' });
      throw err;
    }
  }

  async list(q: ListTokensQuery): Promise<Page<TokenView>> {
    const [items, total] = await this.repo.findAndCount({
      where: q.includeRevoked ? {} : { revokedAt: IsNull() },
      order: { createdAt: 'ASC', name: 'ASC' },
      take: q.limit,
      skip: q.offset,
    });
    return { items: items.map(toTokenView), total, limit: q.limit, offset: q.offset };
  }

  async get(id: string): Promise<TokenView> {
    const row = await this.repo.findOne({ where: { id } });
    if (!row) throw new NotFoundError('token', id);
    return toTokenView(row);
  }

  /** Revoking twice is a no-op (no second audit entry); the row stays for the audit trail. */
  async revoke(id: string, actor: string): Promise<void> {
    await this.dataSource.transaction(async (m) => {
      const repo = m.getRepository(ApiTokenEntity);
      const row = await repo.findOne({ where: { id }, lock: { mode: 'pessimistic_write' } });
      if (!row) throw new NotFoundError('token', id);
      if (row.revokedAt) return;
      await repo.update(id, { revokedAt: () => 'now()' });
      await this.audit.record(
        { actor, action: 'token.revoke', targetType: 'token', targetId: id, details: { name: row.name } },
        m,
      );
    });
    // Drop cached lookups so the revoked token stops working on this instance at once
    // (other instances follow within the cache lifetime).
    this.auth.invalidate();
  }
}
