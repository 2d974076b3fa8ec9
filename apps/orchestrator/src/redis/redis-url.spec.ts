import { redactRedisUrl, redisOptionsFromUrl } from './redis-url';

describe('REDIS_URL', () => {
  it('a single server: host, port, credentials, db, TLS', () => {
    expect(redisOptionsFromUrl('redis://127.0.0.1:6379')).toMatchObject({
      host: '127.0.0.1',
      port: 6379,
      db: 0,
    });
    expect(redisOptionsFromUrl('rediss://u:p%40ss@cache.example:6380/3')).toMatchObject({
      host: 'cache.example',
      port: 6380,
      username: 'u',
      password: 'p@ss',
      db: 3,
      tls: {},
    });
  });

  it('Sentinel: every sentinel, the master name, db, the servers password and the sentinels own', () => {
    const o = redisOptionsFromUrl(
      'redis+sentinel://:s3cret@10.0.0.1:26379,10.0.0.2,[::1]:26380/orders-redis/2',
      {
        SENTINEL_PASSWORD: 'sentinel-pw',
      },
    );
    expect(o).toMatchObject({
      sentinels: [
        { host: '10.0.0.1', port: 26379 },
        { host: '10.0.0.2', port: 26379 },
        { host: '::1', port: 26380 },
      ],
      name: 'orders-redis',
      password: 's3cret',
      sentinelPassword: 'sentinel-pw',
      db: 2,
    });
    // A demoted primary answers READONLY: reconnect (ioredis then asks the sentinels again).
    expect(o.reconnectOnError!(new Error('READONLY You cannot write against a read only replica.'))).toBe(
      true,
    );
    expect(o.reconnectOnError!(new Error('ERR wrong number of arguments'))).toBe(false);
  });

  it.each([
    ['redis+sentinel:///mymaster', /at least one sentinel/],
    ['redis+sentinel://10.0.0.1:26379', /master name/],
    ['redis+sentinel://10.0.0.1:99999/m', /bad sentinel port/],
    ['redis+sentinel://10.0.0.1:26379/m/99', /bad database number/],
    ['redis://127.0.0.1:6379/x', /bad database number/],
    ['http://127.0.0.1:6379', /must be a redis:\/\/ URL/],
  ])('refuses %s', (url, message) => {
    expect(() => redisOptionsFromUrl(url)).toThrow(message);
  });

  it('never shows credentials in messages', () => {
    expect(redactRedisUrl('redis+sentinel://:s3cret@h1:26379,h2:26379/m')).toBe(
      'redis+sentinel://***@h1:26379,h2:26379/m',
    );
    expect(redactRedisUrl('redis://u:p@h:6379')).toBe('redis://***@h:6379');
  });
});
