import { Injectable } from '@nestjs/common';
import { InjectRepository } from '@nestjs/typeorm';
import { IsNull, Repository } from 'typeorm';
import { AppConfig } from '../config/app-config';
import { NodeEntity } from '../nodes/node.entity';
import { ApiTokenEntity } from './api-token.entity';
import { Principal } from './principal';
import { hashToken, safeEqual } from './token-hash';

const CACHE_MS = 2000;

/**
 * Resolves a bearer token to a principal. Lookups are cached for 2 s (the heartbeat path must
 * not hit PostgreSQL on every request), so a revoked token stops working within 2 s.
 */
@Injectable()
export class AuthService {
  private readonly cache = new Map<string, { principal: Principal | null; at: number }>();
  private readonly bootstrapHash: string | null;

  constructor(
    config: AppConfig,
    @InjectRepository(ApiTokenEntity) private readonly tokens: Repository<ApiTokenEntity>,
    @InjectRepository(NodeEntity) private readonly nodes: Repository<NodeEntity>,
  ) {
    this.bootstrapHash = config.ADMIN_TOKEN ? hashToken(config.ADMIN_TOKEN) : null;
  }

  async resolve(token: string): Promise<Principal | null> {
    const hash = hashToken(token);
    if (this.bootstrapHash && safeEqual(hash, this.bootstrapHash)) {
      return { kind: 'api', name: 'bootstrap-admin', role: 'admin', tokenId: null };
    }
    const cached = this.cache.get(hash);
    const now = Date.now();
    if (cached && now - cached.at < CACHE_MS) return cached.principal;
    let principal: Principal | null = null;
    if (token.startsWith('hag_')) {
      const node = await this.nodes.findOne({ where: { agentTokenHash: hash }, select: ['id', 'name'] });
      if (node) principal = { kind: 'agent', name: node.name, nodeId: node.id };
    } else {
      const row = await this.tokens.findOne({
        where: { tokenHash: hash, revokedAt: IsNull() },
        select: ['id', 'name', 'role'],
      });
      if (row) principal = { kind: 'api', name: row.name, role: row.role, tokenId: row.id };
    }
    if (this.cache.size > 10_000) this.cache.clear();
    this.cache.set(hash, { principal, at: now });
    return principal;
  }

  invalidate(): void {
    this.cache.clear();
  }
}
