/**
 * A half-open Redis path (a proxy or load balancer that accepts and then forwards nothing) must not
 * hold up the detector membership: its renewal gives up within REDIS_COMMAND_TIMEOUT_MS, the
 * instance stops acting once its lease may have lapsed, and acts again after the path comes back.
 * Without a command timeout the renewal waited for as long as the stalled connection lasted, and
 * the right to act with it. The shared Redis is reached through a private TcpProxy; only keys under
 * this file's prefix are written.
 */
import { HttpAdapterHost } from '@nestjs/core';
import { DetectorMembership } from '../../apps/orchestrator/src/cluster/membership.service';
import { loadConfig } from '../../apps/orchestrator/src/config/app-config';
import { RedisService } from '../../apps/orchestrator/src/redis/redis.service';
import { waitFor } from '../support/orchestrator';
import { TcpProxy } from '../support/tcp-proxy';

describe('Redis path stalls: membership renewal is bounded', () => {
  const proxy = new TcpProxy('127.0.0.1', 6379);
  let redis: RedisService;
  let membership: DetectorMembership;

  beforeAll(async () => {
    await proxy.start();
    const config = loadConfig({
      ...process.env,
      REDIS_URL: `redis://127.0.0.1:${proxy.port}`,
      REDIS_PREFIX: `hatest:stall${process.pid}`,
      REDIS_COMMAND_TIMEOUT_MS: '500',
      ORCHESTRATOR_ROLES: 'detector',
      ORCHESTRATOR_URL: 'http://127.0.0.1:1',
      DETECTOR_SHARDING: 'true',
    });
    redis = new RedisService(config);
    membership = new DetectorMembership(config, redis, {} as HttpAdapterHost);
  });

  afterAll(async () => {
    await membership?.onApplicationShutdown();
    await redis?.onApplicationShutdown();
    await proxy.stop();
  });

  it('gives up on a stalled connection, stops acting, and acts again once Redis answers', async () => {
    await membership.round();
    expect(membership.canAct).toBe(true);
    expect(membership.members.map((m) => m.id)).toEqual([membership.id]);

    // Every byte now waits ten minutes in the proxy: the connection is open, nothing answers.
    proxy.setDelay(600_000);
    const t0 = Date.now();
    const outcome = await Promise.race([
      membership.round().then(() => 'finished'),
      new Promise((r) => setTimeout(() => r('still waiting'), 5000)),
    ]);
    expect(outcome).toBe('finished');
    expect(Date.now() - t0).toBeLessThan(5000);
    await waitFor(
      'the instance stops acting',
      async () => {
        await membership.round();
        return !membership.canAct;
      },
      10_000,
    );

    // The path comes back (the stalled connection is reset, as a real one eventually is).
    proxy.setDelay(0);
    proxy.cut();
    proxy.restore();
    await waitFor(
      'the instance acts again',
      async () => {
        await membership.round();
        return membership.canAct;
      },
      15_000,
    );
  }, 40_000);
});
