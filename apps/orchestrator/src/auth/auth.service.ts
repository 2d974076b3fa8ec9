import { Injectable } from '@nestjs/common';
import { InjectRepository } from '@nestjs/typeorm';
import { IsNull, Repository } from 'typeorm';
import { isDependencyUnavailable } from '../common/dependency-errors';
import { AppConfig } from '../config/app-config';
import { NodeEntity } from '../nodes/node.entity';
import { ApiTokenEntity } from './api-token.entity';
import { Principal } from './principal';
import { hashToken, safeEqual } from './token-hash';

const CACHE_MS = 2000;
/** While PostgreSQL is unreachable, a token seen this recently still resolves as it did (fail static). */
const STALE_MS = 15 * 60_000;

/**
 * Resolves a bearer token to a principal. Lookups are cached for 2 s (the heartbeat path must
 * not hit PostgreSQL on every request), so a revoked token stops working within 2 s. With
 * PostgreSQL unreachable, a token seen in the last 15 minutes resolves as it did: agents keep their
 * orchestrator contact (losing it would end in a self-fence of every lone production node), and a
 * revocation takes effect once PostgreSQL answers again.
 */
@Injectable()
export class AuthService {
  /** verifiedAt: when PostgreSQL last confirmed it; nextCheckAt: until then the entry is used as is */
  private readonly cache = new Map<
    string,
    { principal: Principal | null; verifiedAt: number; nextCheckAt: number }
  >();
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
    if (cached && now < cached.nextCheckAt) return cached.principal;
    let principal: Principal | null;
    try {
      principal = await this.lookup(token, hash);
    } catch (err) {
      if (cached && now - cached.verifiedAt < STALE_MS && isDependencyUnavailable(err)) {
        // Ask PostgreSQL again in a second, not on every request (a blackholed server costs a connect timeout).
        cached.nextCheckAt = Date.now() + 1000;
        return cached.principal;
      }
      throw err;
    }
    if (this.cache.size > 10_000) this.cache.clear();
    this.cache.set(hash, { principal, verifiedAt: now, nextCheckAt: now + CACHE_MS });
    return principal;
  }

  private async lookup(token: string, hash: string): Promise<Principal | null> {
    if (token.startsWith('hag_')) {
      const node = await this.nodes.findOne({ where: { agentTokenHash: hash }, select: ['id', 'name'] });
      return node ? { kind: 'agent', name: node.name, nodeId: node.id } : null;
    }
    const row = await this.tokens.findOne({
      where: { tokenHash: hash, revokedAt: IsNull() },
      select: ['id', 'name', 'role'],
    });
    return row ? { kind: 'api', name: row.name, role: row.role, tokenId: row.id } : null;
  }

  invalidate(): void {
    this.cache.clear();
  }
}
