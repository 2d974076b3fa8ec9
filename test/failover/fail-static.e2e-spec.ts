import { Cluster } from '../support/cluster';
import { http, waitFor } from '../support/orchestrator';
import { TcpProxy } from '../support/tcp-proxy';

/**
 * PostgreSQL and Redis are reached through proxies this test can cut, so "the database is down"
 * affects only this orchestrator, not the shared servers other test files use.
 */
describe('fail static: PostgreSQL or Redis down', () => {
  const pg = new TcpProxy('127.0.0.1', 5432);
  const redis = new TcpProxy('127.0.0.1', 6379);
  let c: Cluster;

  beforeAll(async () => {
    await pg.start();
    await redis.start();
    c = new Cluster({
      label: 'failstatic',
      addressPrefix: '127.0.0.7',
      agentPort: 17710,
      dnsPort: 15710,
      failoverMode: 'manual',
      orchestratorEnv: {
        DATABASE_URL: `postgres://postgres@127.0.0.1:${pg.port}/ha_test`,
        REDIS_URL: `redis://127.0.0.1:${redis.port}`,
      },
    });
    await c.start();
  });
  afterAll(async () => {
    await c?.close();
    await pg.stop();
    await redis.stop();
  });

  async function answersFor(ms: number): Promise<Set<string>> {
    const seen = new Set<string>();
    const end = Date.now() + ms;
    while (Date.now() < end) {
      for (const a of await c.dnsAnswer().catch(() => ['no answer'])) seen.add(a);
      await new Promise((r) => setTimeout(r, 100));
    }
    return seen;
  }

  it('PostgreSQL down: DNS keeps answering, readiness says so; back up: flushes resume', async () => {
    pg.cut();
    expect([...(await answersFor(3000))]).toEqual([c.production.address]);
    const ready = await http(c.o.url, 'GET', '/health/ready');
    expect(ready.status).toBe(503);
    pg.restore();
    await waitFor(
      'ready again',
      async () => (await http(c.o.url, 'GET', '/health/ready')).status === 200,
      30000,
    );
    // Heartbeats kept flowing into memory and are flushed again.
    const before = Date.now();
    await waitFor(
      'node_status flushed',
      async () => {
        const h = await c.api('GET', `/api/v1/nodes/${c.replica.id}/health`);
        return h.status === 200 && new Date(h.body.heartbeat.lastSeenAt).getTime() >= before - 1000;
      },
      20000,
    );
  });

  it('PostgreSQL down longer than the lease: a production with no live peer keeps its contact and its service', async () => {
    // Alone: its only peer is gone, so its lease rests on the orchestrator's answers.
    await c.replica.agent!.kill();
    await new Promise((r) => setTimeout(r, 1000));
    const before = c.actionsLog(c.production).length;
    pg.cut();
    // Longer than the auth cache (2 s) plus the lease (1.5 s), several times over.
    await new Promise((r) => setTimeout(r, 8000));
    // The API says "unavailable, retry", not "internal error".
    expect((await c.api('GET', '/api/v1/scenarios')).status).toBe(503);
    pg.restore();
    expect(c.actionsLog(c.production).slice(before)).toEqual([]);
    expect(c.production.service!.alive()).toBe(true);
    const st = await c.agentStatus(c.production);
    expect(st.scenarios[0]).toMatchObject({ role: 'production' });
    await c.startAgent(c.replica);
    await waitFor(
      'replica healthy again',
      async () => (await c.api('GET', `/api/v1/nodes/${c.replica.id}/health`)).body?.verdict === 'healthy',
      30000,
    );
  });

  it('Redis down: DNS keeps answering and no operation starts; back up: a failover runs', async () => {
    redis.cut();
    expect([...(await answersFor(2000))]).toEqual([c.production.address]);
    const refused = await c.api('POST', `/api/v1/scenarios/${c.scenarioId}/failover`, {
      reason: 'during outage',
    });
    expect(refused.status).toBe(503);
    expect((await c.operations()).filter((o) => o.type === 'failover')).toHaveLength(0);
    expect((await c.scenario()).state).toBe('running');
    redis.restore();
    const op = await waitFor(
      'failover accepted',
      async () => {
        const r = await c.api('POST', `/api/v1/scenarios/${c.scenarioId}/failover`, {
          reason: 'after outage',
        });
        return r.status === 202 ? r.body : null;
      },
      30000,
      500,
    );
    expect((await c.waitOperation(op.id)).state).toBe('succeeded');
    await c.waitDns(c.replica.address, 10000);
  });
});
