/**
 * Shared by the benchmarks: statistics, a per-run environment (own PostgreSQL schema, Redis key
 * prefix and admin token), an admin API client, polling, and clean-up that runs even on failure
 * or Ctrl-C. Progress goes to stderr; each benchmark prints one JSON document on stdout.
 */
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import Redis from 'ioredis';
import { Client } from 'pg';
import { ProtectedService } from '../../libs/testing/src/agent-harness';

/** Stand-in services guarded by the benchmark agents' watchdogs; gone when the benchmark ends. */
const services: ProtectedService[] = [];
process.on('exit', () => services.forEach((s) => s.stop()));

export const BENCH_DATABASE_URL = process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/ha_bench';
export const BENCH_REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';

/** Nearest-rank percentile (p in 0..100). */
export function pct(values: number[], p: number): number {
  const s = [...values].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.ceil((p / 100) * s.length) - 1)];
}

export interface Summary {
  p50: number;
  p99: number;
  min: number;
  max: number;
  mean: number;
}

export function summary(v: number[]): Summary {
  return {
    p50: pct(v, 50),
    p99: pct(v, 99),
    min: Math.min(...v),
    max: Math.max(...v),
    mean: Math.round(v.reduce((a, b) => a + b, 0) / v.length),
  };
}

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

export function progress(line: string): void {
  process.stderr.write(`${line}\n`);
}

/** Polls `fn` every `everyMs` until it is true (errors count as false); throws after `ms`. */
export async function until(
  what: string,
  fn: () => Promise<boolean>,
  ms = 30000,
  everyMs = 5,
): Promise<void> {
  const end = Date.now() + ms;
  while (!(await fn().catch(() => false))) {
    if (Date.now() > end) throw new Error(`timeout: ${what}`);
    await sleep(everyMs);
  }
}

export interface BenchEnv {
  schema: string;
  prefix: string;
  adminToken: string;
  /** Orchestrator environment: DATABASE_*, REDIS_*, ADMIN_TOKEN, HTTP_HOST, HTTP_PORT=0, plus `extra`. */
  env: Record<string, string>;
  /** Drops the schema and deletes every Redis key of the prefix; never throws. */
  cleanup(): Promise<void>;
}

export function benchEnv(extra: Record<string, string> = {}): BenchEnv {
  const schema = `bench_${randomBytes(4).toString('hex')}`;
  const prefix = `habench:${schema}`;
  const adminToken = `adm_${randomBytes(16).toString('hex')}`;
  const env: Record<string, string> = {
    DATABASE_URL: BENCH_DATABASE_URL,
    DATABASE_SCHEMA: schema,
    REDIS_URL: BENCH_REDIS_URL,
    REDIS_PREFIX: prefix,
    ADMIN_TOKEN: adminToken,
    HTTP_HOST: '127.0.0.1',
    HTTP_PORT: '0',
    ...extra,
  };
  return {
    schema,
    prefix,
    adminToken,
    env,
    cleanup: async () => {
      await dropSchema(env.DATABASE_URL, schema).catch((e: Error) =>
        progress(`cleanup: could not drop schema ${schema}: ${e.message}`),
      );
      await deleteRedisKeys(env.REDIS_URL, prefix).catch((e: Error) =>
        progress(`cleanup: could not delete Redis keys ${prefix}*: ${e.message}`),
      );
    },
  };
}

export async function dropSchema(databaseUrl: string, schema: string): Promise<void> {
  const c = new Client({ connectionString: databaseUrl });
  await c.connect();
  try {
    await c.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
  } finally {
    await c.end().catch(() => undefined);
  }
}

export async function deleteRedisKeys(redisUrl: string, prefix: string): Promise<void> {
  const r = new Redis(redisUrl, { maxRetriesPerRequest: 1 });
  try {
    let cursor = '0';
    do {
      const [next, keys] = await r.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 1000);
      cursor = next;
      if (keys.length) await r.del(...keys);
    } while (cursor !== '0');
  } finally {
    r.disconnect();
  }
}

export type Api = <T = any>(method: string, path: string, body?: unknown) => Promise<T>;

/** JSON client of the REST API with a bearer token; any status >= 300 throws with the body. */
export function apiClient(base: () => string, token: string): Api {
  return async (method, path, body) => {
    const r = await fetch(`${base()}${path}`, {
      method,
      headers: { authorization: `Bearer ${token}`, ...(body ? { 'content-type': 'application/json' } : {}) },
      body: body ? JSON.stringify(body) : undefined,
    });
    const json = (await r.json().catch(() => ({}))) as any;
    if (r.status >= 300) throw new Error(`${method} ${path}: ${r.status} ${JSON.stringify(json)}`);
    return json;
  };
}

/**
 * Runs `main`, then `cleanup` whatever happened (also on SIGINT/SIGTERM/SIGHUP), and exits 1 on
 * failure. `cleanup` runs once.
 */
export function runBench(main: () => Promise<void>, cleanup: () => Promise<void>): void {
  let cleaning: Promise<void> | null = null;
  const clean = () =>
    (cleaning ??= cleanup().catch((e: Error) => progress(`cleanup failed: ${e.stack ?? e.message}`)));
  // `on`, not `once`: Nest's own shutdown hook (enableShutdownHooks) closes an in-process app and
  // then re-sends the signal to this process, which must not end it before the clean-up is done.
  let signalled = false;
  for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
    process.on(sig, () => {
      if (signalled) return;
      signalled = true;
      progress(`${sig}: cleaning up`);
      void clean().finally(() => process.exit(130));
    });
  }
  main()
    .then(
      () => clean(),
      async (err) => {
        console.error(err);
        await clean();
        process.exitCode = 1;
      },
    )
    .finally(() => process.exit());
}

/** Agent config of a benchmark node: the node registered through the API, its own state file. */
export function agentConfig(opts: {
  node: { node: { id: string }; agentToken: string; actionToken: string };
  name: string;
  orchestrator: string;
  address: string;
  port: number;
  intervalMs: number;
  dir: string;
  actions: Record<string, unknown>;
}): Record<string, unknown> {
  // Lease-expiry fencing needs an armed watchdog: each node guards a stand-in service.
  const service = new ProtectedService(opts.dir, { name: `${opts.name}.service` });
  service.start();
  services.push(service);
  return {
    nodeId: opts.node.node.id,
    nodeName: opts.name,
    orchestrators: [opts.orchestrator],
    token: opts.node.agentToken,
    actionToken: opts.node.actionToken,
    listen: { host: opts.address, port: opts.port },
    heartbeatIntervalMs: opts.intervalMs,
    stateFile: `${opts.dir}/${opts.name}.state.json`,
    actions: opts.actions,
    watchdog: { pidFiles: [service.pidFile] },
    logLevel: 'error',
  };
}

/** Pins a process (all its threads) to one core, so a reference and ours get the same one. */
export function pin(pid: number, cpu: string): void {
  try {
    execFileSync('taskset', ['-a', '-pc', cpu, String(pid)], { stdio: 'ignore' });
  } catch {
    progress(`taskset not available: pid ${pid} not pinned`);
  }
}

/** UDP heartbeat datagrams by result, and all heartbeats taken, from an orchestrator's /metrics. */
export async function heartbeatCounters(
  url: string,
): Promise<{ heartbeats: number; udp: Record<string, number> }> {
  const text = await (await fetch(`${url}/metrics`)).text();
  const udp: Record<string, number> = {};
  for (const m of text.matchAll(/^ha_heartbeat_udp_datagrams_total\{result="(\w+)"\} ([0-9.e+]+)$/gm))
    udp[m[1]] = Number(m[2]);
  const hb = /^ha_heartbeats_total ([0-9.e+]+)$/m.exec(text);
  return { heartbeats: hb ? Number(hb[1]) : 0, udp };
}
