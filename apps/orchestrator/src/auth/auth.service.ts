import { randomBytes } from 'node:crypto';
import { Injectable } from '@nestjs/common';
import { InjectRepository } from '@nestjs/typeorm';
import { IsNull, Repository } from 'typeorm';
import { isDependencyUnavailable } from '../common/dependency-errors';
import { AppConfig } from '../config/app-config';
import { NodeEntity } from '../nodes/node.entity';
import { RedisService } from '../redis/redis.service';
import { ApiRole, ApiTokenEntity } from './api-token.entity';
import { Principal } from './principal';
import { hashToken, safeEqual } from './token-hash';

const CACHE_MS = 2000;
/** While PostgreSQL is unreachable, a token seen this recently still resolves as it did (fail static). */
const STALE_MS = 15 * 60_000;
/** A stream ticket opens event streams for this long after it is issued (an open stream stays open). */
export const STREAM_TICKET_TTL_MS = 60_000;
export const STREAM_TICKET_PATTERN = /^hst_[A-Za-z0-9_-]{43}$/;

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
    private readonly redis: RedisService,
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

  /**
   * A short-lived ticket for browsers, whose EventSource cannot send an Authorization header: it
   * opens the event streams (`?ticket=`) as the principal that asked for it, for
   * STREAM_TICKET_TTL_MS, on any instance (kept in Redis, by its hash), and nothing else.
   */
  async issueStreamTicket(p: Principal & { kind: 'api' }): Promise<{ ticket: string; expiresAt: Date }> {
    const ticket = `hst_${randomBytes(32).toString('base64url')}`;
    const value = JSON.stringify({ name: p.name, role: p.role, tokenId: p.tokenId });
    await this.redis.client.set(this.ticketKey(ticket), value, 'PX', STREAM_TICKET_TTL_MS);
    return { ticket, expiresAt: new Date(Date.now() + STREAM_TICKET_TTL_MS) };
  }

  /** The principal of a live ticket whose token is still valid, else null. */
  async resolveStreamTicket(ticket: string): Promise<Principal | null> {
    if (!STREAM_TICKET_PATTERN.test(ticket)) return null;
    const raw = await this.redis.client.get(this.ticketKey(ticket));
    if (!raw) return null;
    const t = JSON.parse(raw) as { name: string; role: ApiRole; tokenId: string | null };
    // A token revoked since the ticket was issued: the ticket dies with it.
    if (t.tokenId && !(await this.tokens.exists({ where: { id: t.tokenId, revokedAt: IsNull() } })))
      return null;
    return { kind: 'api', name: t.name, role: t.role, tokenId: t.tokenId };
  }

  private ticketKey(ticket: string): string {
    return `${this.redis.prefix}:stream-ticket:${hashToken(ticket)}`;
  }

  invalidate(): void {
    this.cache.clear();
  }
}
