/**
 * REDIS_URL → ioredis options, for a single server or a Sentinel-managed primary:
 *   redis://[user:password@]host:port[/db]        rediss:// for TLS
 *   redis+sentinel://[user:password@]host1:port1,host2:port2/<master name>[/db]
 * With Sentinel, ioredis asks the sentinels where the primary is, reconnects to the new primary
 * after a failover (and on a READONLY answer from a demoted one), so the orchestrator follows a
 * Redis failover without a restart. The password (if any) is the Redis servers'; SENTINEL_PASSWORD
 * in the environment (optional) is the sentinels' own.
 */
import { RedisOptions } from 'ioredis';

export const SENTINEL_SCHEME = 'redis+sentinel:';

export function isSentinelUrl(url: string): boolean {
  return url.startsWith(`${SENTINEL_SCHEME}//`);
}

/** Throws with a clear message when the URL is not one of the forms above. */
export function redisOptionsFromUrl(raw: string, env: NodeJS.ProcessEnv = process.env): RedisOptions {
  if (!isSentinelUrl(raw)) {
    const url = new URL(raw);
    if (url.protocol !== 'redis:' && url.protocol !== 'rediss:')
      throw new Error('REDIS_URL must be a redis:// URL');
    return {
      host: url.hostname,
      port: Number(url.port || 6379),
      username: url.username ? decodeURIComponent(url.username) : undefined,
      password: url.password ? decodeURIComponent(url.password) : undefined,
      db: dbOf(url.pathname.slice(1)),
      tls: url.protocol === 'rediss:' ? {} : undefined,
    };
  }
  // URL cannot parse a host list: take the authority apart by hand.
  const rest = raw.slice(`${SENTINEL_SCHEME}//`.length);
  const slash = rest.indexOf('/');
  const authority = slash < 0 ? rest : rest.slice(0, slash);
  const path = slash < 0 ? '' : rest.slice(slash + 1);
  const at = authority.lastIndexOf('@');
  const credentials = at < 0 ? '' : authority.slice(0, at);
  const hosts = (at < 0 ? authority : authority.slice(at + 1)).split(',').filter(Boolean);
  const [name, db] = path.split('/');
  if (hosts.length === 0)
    throw new Error('REDIS_URL: a redis+sentinel:// URL needs at least one sentinel host:port');
  if (!name) throw new Error('REDIS_URL: a redis+sentinel:// URL needs the master name as its path');
  const sentinels = hosts.map((h) => {
    const m = /^(\[[^\]]+\]|[^:]+)(?::(\d{1,5}))?$/.exec(h);
    if (!m) throw new Error(`REDIS_URL: bad sentinel address ${h}`);
    const port = Number(m[2] ?? 26379);
    if (port < 1 || port > 65535) throw new Error(`REDIS_URL: bad sentinel port in ${h}`);
    return { host: m[1].replace(/^\[|\]$/g, ''), port };
  });
  const colon = credentials.indexOf(':');
  const username = colon < 0 ? '' : decodeURIComponent(credentials.slice(0, colon));
  const password = decodeURIComponent(colon < 0 ? credentials : credentials.slice(colon + 1));
  return {
    sentinels,
    name: decodeURIComponent(name),
    username: username || undefined,
    password: password || undefined,
    sentinelPassword: env.SENTINEL_PASSWORD || undefined,
    db: dbOf(db ?? ''),
    // Leave a demoted primary when it answers READONLY instead of failing writes (a primary that
    // becomes a replica also drops its clients, which then ask the sentinels again). ioredis's
    // failoverDetector is not used: its sentinel subscriptions outlive disconnect() after a switch.
    reconnectOnError: (err) => err.message.startsWith('READONLY'),
  };
}

function dbOf(text: string): number {
  if (!text) return 0;
  const db = Number(text);
  if (!Number.isInteger(db) || db < 0 || db > 15) throw new Error(`REDIS_URL: bad database number ${text}`);
  return db;
}

/** The URL without its credentials, for logs and error messages. */
export function redactRedisUrl(url: string): string {
  return url.replace(/\/\/[^@/]*@/, '//***@');
}
