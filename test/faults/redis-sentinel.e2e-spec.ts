/**
 * Redis behind Sentinel: the orchestrator takes REDIS_URL=redis+sentinel://…/<master>, finds the
 * primary through the sentinel, and follows a Redis primary failover that happens in the middle of
 * one of its own failovers (the Redis primary is killed while promote runs): the operation
 * completes, the next one runs on the new primary. A private Redis primary, replica and sentinel (redis-server --sentinel) on
 * 127.0.0.1:16390/16391/26390 — the machine's shared Redis is never touched.
 */
import { ChildProcess, execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Redis from 'ioredis';
import { Cluster } from '../support/cluster';
import { waitFor } from '../support/orchestrator';

const PRIMARY = 16390;
const REPLICA = 16391;
const SENTINEL = 26390;
const MASTER = 'haprimary';

describe('Redis Sentinel: a Redis primary failover during an operation', () => {
  const dir = mkdtempSync(join(tmpdir(), 'ha-sentinel-'));
  const procs: ChildProcess[] = [];
  const redisAt = (port: number) =>
    new Redis({ host: '127.0.0.1', port, maxRetriesPerRequest: 1, lazyConnect: true });
  const startRedis = (args: string[]) => {
    const p = spawn('redis-server', args, { stdio: 'ignore' });
    procs.push(p);
    return p;
  };
  const masterPort = async (): Promise<number> => {
    const s = redisAt(SENTINEL);
    try {
      await s.connect();
      const [, port] = (await s.call('SENTINEL', 'get-master-addr-by-name', MASTER)) as string[];
      return Number(port);
    } finally {
      s.disconnect();
    }
  };
  const c = new Cluster({
    label: 'sentinel',
    addressPrefix: '127.0.0.13',
    agentPort: 17330,
    dnsPort: 15330,
    failoverMode: 'manual',
    actionDelaySeconds: { promote: 2 },
    orchestratorEnv: { REDIS_URL: `redis+sentinel://127.0.0.1:${SENTINEL}/${MASTER}` },
  });

  let primary: ChildProcess;
  beforeAll(async () => {
    for (const [port, extra] of [
      [PRIMARY, []],
      [REPLICA, ['--replicaof', '127.0.0.1', String(PRIMARY)]],
    ] as const) {
      mkdirp(join(dir, String(port)));
      const p = startRedis([
        '--port',
        String(port),
        '--bind',
        '127.0.0.1',
        '--save',
        '',
        '--appendonly',
        'no',
        '--dir',
        join(dir, String(port)),
        ...extra,
      ]);
      if (port === PRIMARY) primary = p;
    }
    const conf = join(dir, 'sentinel.conf');
    writeFileSync(
      conf,
      [
        `port ${SENTINEL}`,
        'bind 127.0.0.1',
        `dir ${dir}`,
        `sentinel monitor ${MASTER} 127.0.0.1 ${PRIMARY} 1`,
        `sentinel down-after-milliseconds ${MASTER} 1000`,
        `sentinel failover-timeout ${MASTER} 5000`,
        '',
      ].join('\n'),
    );
    startRedis([conf, '--sentinel']);
    await waitFor(
      'replica in sync and known to the sentinel',
      async () => {
        const r = redisAt(REPLICA);
        const s = redisAt(SENTINEL);
        try {
          await r.connect();
          await s.connect();
          const sync = /master_link_status:up/.test(await r.info('replication'));
          const replicas = (await s.call('SENTINEL', 'replicas', MASTER)) as unknown[];
          return sync && replicas.length === 1;
        } catch {
          return false;
        } finally {
          r.disconnect();
          s.disconnect();
        }
      },
      20000,
      200,
    );
    await c.start();
  });
  afterAll(async () => {
    await c.close();
    for (const p of procs) p.kill('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  });

  it('switches the Redis primary while promote runs → the failover completes and the next operation runs on the new primary', async () => {
    expect(await masterPort()).toBe(PRIMARY);
    const r = await c.api('POST', `/api/v1/scenarios/${c.scenarioId}/failover`, { reason: 'sentinel test' });
    expect(r.status).toBe(202);
    await waitFor(
      'promote running',
      async () =>
        (await c.api('GET', `/api/v1/operations/${r.body.id}`)).body.steps.find(
          (s: any) => s.name === 'promote',
        ).state === 'running',
      20000,
      20,
    );
    // The Redis primary crashes: the sentinel sees it down after 1 s and promotes the replica.
    primary.kill('SIGKILL');
    await waitFor(
      'the sentinel names the new primary',
      async () => (await masterPort()) === REPLICA,
      30000,
      100,
    );

    const op = await c.waitOperation(r.body.id, 60000);
    expect(op.state).toBe('succeeded');
    await c.waitDns(c.replica.address);
    // Each action ran once, across the Redis failover.
    expect(c.actionsLog(c.replica).filter((l) => l.startsWith('promote'))).toHaveLength(1);

    // The next operation (failback) goes through the new primary only.
    await waitFor(
      'old production demoted',
      async () => (await c.agentStatus(c.production))?.scenarios?.[0]?.role === 'demoted',
      20000,
    );
    const fb = await c.api('POST', `/api/v1/scenarios/${c.scenarioId}/failback`, {
      reason: 'sentinel test back',
    });
    expect(fb.status).toBe(202);
    expect((await c.waitOperation(fb.body.id, 60000)).state).toBe('succeeded');
    await c.waitDns(c.production.address);
    // The old primary is gone: everything after the crash went to the new one.
    const newPrimary = redisAt(REPLICA);
    try {
      await newPrimary.connect();
      expect(await newPrimary.info('replication')).toMatch(/role:master/);
      const keys = await newPrimary.keys(`${c.o.redisPrefix}*`);
      expect(keys.length).toBeGreaterThan(0);
    } finally {
      newPrimary.disconnect();
    }
  });
});

function mkdirp(path: string): void {
  execFileSync('mkdir', ['-p', path]);
}
