import Redis from 'ioredis';
import { AppConfig } from '../config/app-config';
import { DependencyUnavailableError } from '../database/database-bootstrap';
import { redactRedisUrl, redisOptionsFromUrl } from './redis-url';

/** One quick PING at start-up so a missing Redis is one clear line, not a reconnect loop. */
export async function checkRedis(config: AppConfig): Promise<void> {
  const r = new Redis({
    ...redisOptionsFromUrl(config.REDIS_URL),
    lazyConnect: true,
    maxRetriesPerRequest: 0,
    retryStrategy: () => null,
  });
  r.on('error', () => undefined);
  try {
    await r.connect();
    await r.ping();
  } catch (err) {
    throw new DependencyUnavailableError(
      `Redis unreachable at ${redactRedisUrl(config.REDIS_URL)}: ${(err as Error).message.replace(/\.+$/, '')}. ` +
        `Start one (redis-server --daemonize yes --port 6379) or set REDIS_URL.`,
    );
  } finally {
    r.disconnect();
  }
}
