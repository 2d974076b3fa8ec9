/**
 * Mass failover: one host carries N `auto` scenarios (default 1,000) and dies (kill -9 of its agent,
 * which its watchdog follows by killing the protected service). Measured:
 *   - set-up: creating the N scenarios (bulk API) and starting them (bulk start);
 *   - failed verdict → each scenario's DNS answer flipped to the replica (first, p50, p99, last);
 *   - the span over which the detector created the N failover operations;
 *   - PostgreSQL (transactions, rows returned/written) and Redis (commands) spent on the failover;
 *   - the orchestrator's CPU over the failover (its own process, probe-preload) and its CPU profile
 *     summary with BENCH_PROFILE=1.
 * The orchestrator is the built one, in a child process; the agents are real; the client asks the
 * embedded DNS server for every pending name about every 50 ms over UDP.
 *
 *   npm run build && node dist/bench/mass-failover.js [scenarios=1000] [heartbeatIntervalMs=500]
 *
 * Own schema and Redis prefix (dropped at the end); agents on 127.0.0.141/142:18142, API
 * 127.0.0.1:18141, DNS 127.0.0.1:16141.
 */
import 'reflect-metadata';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Redis from 'ioredis';
import { Client } from 'pg';
import { queryServer } from '../apps/orchestrator/src/dns/embedded/dns-query';
import { AgentFleet, AgentProcess, writeScript } from '../libs/testing/src/agent-harness';
import { ChildOrchestrator, spawnOrchestrator } from './lib/child-orchestrator';
import { summariseProfile } from './lib/cpu-profile';
import { agentConfig, apiClient, benchEnv, pct, progress, runBench, sleep, until } from './lib/common';

const N = Number(process.argv[2] ?? 1000);
const INTERVAL = Number(process.argv[3] ?? 500);
const LEASE = 3 * INTERVAL;
const HTTP_PORT = 18141;
const DNS_PORT = 16141;
const AGENT_PORT = 18142;
const ZONE = 'mass.test';
const PROFILE = process.env.BENCH_PROFILE === '1';
const PER_SCENARIO_SCRIPTS = process.env.BENCH_SCRIPT_PER_SCENARIO === '1';

const env = benchEnv({
  DNS_PORT: String(DNS_PORT),
  DNS_HOST: '127.0.0.1',
  LOG_LEVEL: process.env.BENCH_LOG ? 'info' : 'warn',
  ...(process.env.WORKER_CONCURRENCY && { WORKER_CONCURRENCY: process.env.WORKER_CONCURRENCY }),
  ...(process.env.DATABASE_POOL_SIZE && { DATABASE_POOL_SIZE: process.env.DATABASE_POOL_SIZE }),
});
const dir = mkdtempSync(join(tmpdir(), 'ha-bench-mass-'));
const fleet = new AgentFleet();
let orchestrator: ChildOrchestrator | null = null;

const recordOf = (i: number) => `s${i}.${ZONE}`;

async function answers(names: string[], concurrency = 64): Promise<Map<string, string | null>> {
  const out = new Map<string, string | null>();
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(concurrency, names.length) }, async () => {
      while (next < names.length) {
        const name = names[next++];
        const r = await queryServer({ host: '127.0.0.1', port: DNS_PORT, timeoutMs: 500 }, name, 'A').catch(
          () => null,
        );
        out.set(name, (r?.answers[0] as { address?: string } | undefined)?.address ?? null);
      }
    }),
  );
  return out;
}

async function pgCounters(c: Client, db: string) {
  const r = await c.query(
    `SELECT xact_commit + xact_rollback AS xacts, tup_returned + tup_fetched AS read,
            tup_inserted + tup_updated + tup_deleted AS written
       FROM pg_stat_database WHERE datname = $1`,
    [db],
  );
  return { xacts: Number(r.rows[0].xacts), read: Number(r.rows[0].read), written: Number(r.rows[0].written) };
}

async function redisCommands(r: Redis): Promise<number> {
  const info = await r.info('stats');
  return Number(/total_commands_processed:(\d+)/.exec(info)?.[1] ?? 0);
}

/** CPU ticks (utime + stime, 100/s) of a process; 0 once it is gone. */
function cpuTicks(pid: number): number {
  try {
    const f = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
    return Number(f[11]) + Number(f[12]);
  } catch {
    return 0;
  }
}

/** Pids of every process whose command name is `comm` (PostgreSQL backends, redis-server). */
function pidsOf(comm: string): number[] {
  return readdirSync('/proc')
    .filter((d) => /^\d+$/.test(d))
    .filter((d) => {
      try {
        return readFileSync(`/proc/${d}/comm`, 'utf8').trim() === comm;
      } catch {
        return false;
      }
    })
    .map(Number);
}

/** CPU of groups of processes over a window: start() then stop() → cores used per group. */
function cpuWindow(groups: Record<string, () => number[]>) {
  const t0 = Date.now();
  const before = new Map<string, Map<number, number>>();
  for (const [name, pids] of Object.entries(groups))
    before.set(name, new Map(pids().map((p) => [p, cpuTicks(p)])));
  return () => {
    const secs = (Date.now() - t0) / 1000;
    const out: Record<string, number> = {};
    for (const [name, pids] of Object.entries(groups)) {
      const b = before.get(name)!;
      let ticks = 0;
      for (const p of new Set([...b.keys(), ...pids()])) {
        const now = cpuTicks(p);
        if (now > 0) ticks += now - (b.get(p) ?? 0); // a process gone by now counts nothing
      }
      out[name] = +(ticks / 100 / secs).toFixed(2);
    }
    return out;
  };
}

/** RSS and share of one core of a process over `ms`, from /proc (Linux). */
async function processUsage(pid: number, ms: number): Promise<{ rssMB: number; cpuPct: number }> {
  const ticks = () => {
    const f = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
    return Number(f[11]) + Number(f[12]); // utime + stime, in clock ticks (100/s)
  };
  const t0 = ticks();
  await sleep(ms);
  const t1 = ticks();
  const rss = Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? 0);
  return { rssMB: Math.round(rss / 1024), cpuPct: +(((t1 - t0) / 100 / (ms / 1000)) * 100).toFixed(1) };
}

async function main(): Promise<void> {
  const o = (orchestrator = await spawnOrchestrator({
    env: env.env,
    port: HTTP_PORT,
    probe: true,
    readyTimeoutMs: 60000,
    keepLines: 200_000,
  }));
  const api = apiClient(() => o.url, env.adminToken);
  const nodes: { id: string; address: string; config: Record<string, unknown>; agent?: AgentProcess }[] = [];
  for (const [i, name] of ['massprod', 'massreplica'].entries()) {
    const address = `127.0.0.${141 + i}`;
    const n = await api('POST', '/api/v1/nodes', {
      name,
      address,
      agentUrl: `http://${address}:${AGENT_PORT}`,
    });
    const actions: Record<string, unknown> = {};
    for (const a of ['promote', 'demote', 'resync', 'fence']) {
      // Batch scripts (one run for every scenario asking at once) unless BENCH_SCRIPT_PER_SCENARIO=1.
      actions[a] = {
        command: writeScript(dir, `${name}-${a}.sh`, '#!/bin/sh\nexit 0\n'),
        args: [],
        ...(!PER_SCENARIO_SCRIPTS && { batch: true }),
      };
    }
    nodes.push({
      id: n.node.id,
      address,
      config: agentConfig({
        node: n,
        name,
        orchestrator: o.url,
        address,
        port: AGENT_PORT,
        intervalMs: INTERVAL,
        dir,
        actions,
      }),
    });
  }
  for (const [i, n] of nodes.entries())
    n.agent = await fleet.spawn({ dir, name: `agent${i}`, config: n.config });

  const createStart = Date.now();
  const ids: string[] = [];
  const scenario = (i: number) => ({
    name: `mass-${i}`,
    productionNodeId: nodes[0].id,
    replicaNodeIds: [nodes[1].id],
    dnsRecords: [{ zone: ZONE, name: recordOf(i), type: 'A', ttl: 1 }],
    failoverMode: 'auto',
    checks: [{ name: 'heartbeat', kind: 'heartbeat', intervalMs: INTERVAL, ttlMs: 4 * INTERVAL }],
    policy: { leaseMs: LEASE, leaseMarginMs: 200, holdDownMs: 0, recoveryHoldMs: 1000 },
  });
  // 250 per request keeps the body well under BODY_LIMIT_BYTES (256 KiB).
  for (let from = 0; from < N; from += 250) {
    const batch = Array.from({ length: Math.min(250, N - from) }, (_, k) => scenario(from + k));
    const r = await api('POST', '/api/v1/scenarios/bulk', { scenarios: batch });
    ids.push(...r.items.map((s: { id: string }) => s.id));
  }
  const createMs = Date.now() - createStart;
  progress(`created ${N} scenarios in ${createMs} ms`);
  await sleep(3 * INTERVAL);
  const startStart = Date.now();
  for (let from = 0; from < N; from += 500) {
    await api('POST', '/api/v1/scenarios/bulk/start', {
      scenarioIds: ids.slice(from, from + 500),
      reason: 'bench',
    });
  }
  const names = Array.from({ length: N }, (_, i) => recordOf(i));
  await until(
    'every scenario running',
    async () => (await api('GET', '/api/v1/scenarios?state=running&limit=1')).total === N,
    Number(process.env.BENCH_SETUP_TIMEOUT_MS ?? 600_000),
    250,
  );
  await until(
    'DNS → production everywhere',
    async () => [...(await answers(names)).values()].every((a) => a === nodes[0].address),
    120_000,
    250,
  );
  const startMs = Date.now() - startStart;
  progress(`started ${N} scenarios in ${startMs} ms`);
  // Agents settle (peer heartbeats, leases); record the agents' steady footprint.
  await sleep(5 * INTERVAL);
  const agentFootprint = await Promise.all(nodes.map((n) => processUsage(n.agent!.pid, 5000)));
  progress(`agents at rest: ${JSON.stringify(agentFootprint)}`);

  const pg = new Client({ connectionString: env.env.DATABASE_URL });
  await pg.connect();
  const db = new URL(env.env.DATABASE_URL).pathname.slice(1);
  const redis = new Redis(env.env.REDIS_URL);
  const pg0 = await pgCounters(pg, db);
  const redis0 = await redisCommands(redis);
  const profileFile = join(dir, 'mass-failover.cpuprofile');
  if (PROFILE) await o.probe({ op: 'profile-start', intervalUs: 2000 });
  const cpu0 = await o.probe({ op: 'stats' });

  const prodPid = nodes[0].agent!.pid;
  const stopCpu = cpuWindow({
    orchestrator: () => [o.pid],
    productionAgent: () => [prodPid],
    replicaAgent: () => [nodes[1].agent!.pid],
    benchClient: () => [process.pid],
    postgres: () => pidsOf('postgres'),
    redis: () => pidsOf('redis-server'),
  });
  const killedAt = Date.now();
  await nodes[0].agent!.kill();
  const flipped = new Map<string, number>();
  let pending = names;
  const deadline = Date.now() + 600_000;
  while (pending.length > 0) {
    if (Date.now() > deadline) throw new Error(`${pending.length} names never flipped`);
    const round = await answers(pending);
    const now = Date.now();
    for (const [name, a] of round) if (a === nodes[1].address) flipped.set(name, now);
    pending = pending.filter((n) => !flipped.has(n));
    await sleep(50);
  }
  const coresUsed = stopCpu();
  const cpu1 = await o.probe({ op: 'stats' });
  if (PROFILE) await o.probe({ op: 'profile-stop', file: profileFile });
  const wallMs = cpu1.atMs! - cpu0.atMs!;
  const cpuMs = (cpu1.cpu!.user + cpu1.cpu!.system - cpu0.cpu!.user - cpu0.cpu!.system) / 1000;
  const pg1 = await pgCounters(pg, db);
  const redis1 = await redisCommands(redis);

  const verdicts = await api('GET', `/api/v1/events?nodeId=${nodes[0].id}&kind=verdict-changed&limit=10`);
  const failed = verdicts.items.find(
    (e: { message: string; at: string }) =>
      e.message.includes('→ failed') && new Date(e.at).getTime() >= killedAt,
  );
  const failedAt = failed ? new Date(failed.at).getTime() : NaN;
  const created: number[] = [];
  const opIds: string[] = [];
  for (let offset = 0; ; offset += 200) {
    const page = await api('GET', `/api/v1/operations?type=failover&limit=200&offset=${offset}`);
    created.push(...page.items.map((op: { createdAt: string }) => new Date(op.createdAt).getTime()));
    opIds.push(...page.items.map((op: { id: string }) => op.id));
    if (page.items.length < 200) break;
  }
  // Where the time goes: each step's finish time after the verdict, over a sample of operations.
  const stepDone = new Map<string, number[]>();
  for (const id of opIds.filter((_, i) => i % Math.max(1, Math.floor(opIds.length / 50)) === 0)) {
    const op = await api('GET', `/api/v1/operations/${id}`);
    for (const st of op.steps as { name: string; finishedAt: string | null }[]) {
      if (!st.finishedAt) continue;
      const list = stepDone.get(st.name) ?? [];
      list.push(new Date(st.finishedAt).getTime() - failedAt);
      stepDone.set(st.name, list);
    }
  }
  const stepsDoneMs = Object.fromEntries(
    [...stepDone].map(([name, v]) => [name, { p50: pct(v, 50), max: Math.max(...v) }]),
  );
  const flips = [...flipped.values()].map((t) => t - failedAt);
  const result = {
    bench: 'mass-failover',
    scenarios: N,
    actionScripts: PER_SCENARIO_SCRIPTS ? 'one run per scenario' : 'batch (one run for all)',
    heartbeatIntervalMs: INTERVAL,
    heartbeatTtlMs: 4 * INTERVAL,
    setup: { createMs, startMs },
    killToFailedVerdictMs: failedAt - killedAt,
    failedVerdictToDnsMs: {
      first: Math.min(...flips),
      p50: pct(flips, 50),
      p99: pct(flips, 99),
      last: Math.max(...flips),
    },
    operationsCreatedMs: {
      count: created.length,
      first: Math.min(...created) - failedAt,
      last: Math.max(...created) - failedAt,
    },
    stepsDoneAfterVerdictMs: stepsDoneMs,
    postgres: {
      transactions: pg1.xacts - pg0.xacts,
      rowsRead: pg1.read - pg0.read,
      rowsWritten: pg1.written - pg0.written,
    },
    redisCommands: redis1 - redis0,
    orchestratorCpu: {
      wallMs: Math.round(wallMs),
      cpuMs: Math.round(cpuMs),
      cores: +(cpuMs / wallMs).toFixed(2),
    },
    coresUsedDuringFailover: coresUsed,
    agentsAtRest: agentFootprint,
    ...(PROFILE && { profile: summariseProfile(profileFile, 25) }),
  };
  await pg.end();
  redis.disconnect();

  console.log(JSON.stringify(result, null, 2));
}

runBench(main, async () => {
  // BENCH_LOG=file: the orchestrator's log lines (at info) for a closer look, also after a failure.
  if (process.env.BENCH_LOG && orchestrator)
    writeFileSync(process.env.BENCH_LOG, orchestrator.lines.join('\n'));
  await fleet.stopAll().catch(() => undefined);
  await orchestrator?.stop().catch(() => undefined);
  rmSync(dir, { recursive: true, force: true });
  await env.cleanup();
});
