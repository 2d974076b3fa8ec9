/**
 * Test harness: an orchestrator with its own PostgreSQL schema and Redis prefix, either in this
 * jest process (createApp) or as a real child process (spawnOrchestrator). close() drops the
 * schema and deletes the Redis keys, whatever happened in the test.
 */
import { ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import path from 'node:path';
import { NestFastifyApplication } from '@nestjs/platform-fastify';
import Redis from 'ioredis';
import { Client } from 'pg';
import { createApp } from '../../apps/orchestrator/src/bootstrap';
import { AppConfig, loadConfig } from '../../apps/orchestrator/src/config/app-config';

export const TEST_DATABASE_URL =
  process.env.TEST_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/ha_test';
export const TEST_REDIS_URL = process.env.TEST_REDIS_URL ?? 'redis://127.0.0.1:6379';
// Also right when this file runs compiled, from dist/test/support (the chaos runner).
export const ROOT = path.resolve(
  __dirname,
  __dirname.includes(`${path.sep}dist${path.sep}`) ? '../../..' : '../..',
);

export interface HttpResult<T = any> {
  status: number;
  body: T;
  headers: Headers;
}

export async function http<T = any>(
  baseUrl: string,
  method: string,
  urlPath: string,
  opts: {
    token?: string;
    body?: unknown;
    rawBody?: string;
    headers?: Record<string, string>;
    timeoutMs?: number;
  } = {},
): Promise<HttpResult<T>> {
  const headers: Record<string, string> = { ...(opts.headers ?? {}) };
  if (opts.token) headers.authorization = `Bearer ${opts.token}`;
  let body: string | undefined;
  if (opts.rawBody !== undefined) body = opts.rawBody;
  else if (opts.body !== undefined) {
    body = JSON.stringify(opts.body);
    headers['content-type'] ??= 'application/json';
  }
  const res = await fetch(`${baseUrl}${urlPath}`, {
    method,
    headers,
    body,
    signal: AbortSignal.timeout(opts.timeoutMs ?? 15000),
  });
  const text = await res.text();
  let parsed: unknown = text;
  try {
    parsed = text ? JSON.parse(text) : undefined;
  } catch {
    /* not JSON */
  }
  return { status: res.status, body: parsed as T, headers: res.headers };
}

export function uniqueName(label: string): string {
  return `t_${label
    .replace(/[^a-z0-9]/gi, '')
    .toLowerCase()
    .slice(0, 20)}_${randomBytes(4).toString('hex')}`;
}

export interface TestEnv {
  schema: string;
  redisPrefix: string;
  adminToken: string;
  env: Record<string, string>;
  /** Drop the schema and the Redis keys. */
  cleanup(): Promise<void>;
}

export function testEnv(label: string, extra: Record<string, string> = {}): TestEnv {
  const schema = uniqueName(label);
  const redisPrefix = `hatest:${schema}`;
  const adminToken = `adm_${randomBytes(16).toString('hex')}`;
  const env: Record<string, string> = {
    DATABASE_URL: TEST_DATABASE_URL,
    DATABASE_SCHEMA: schema,
    REDIS_URL: TEST_REDIS_URL,
    REDIS_PREFIX: redisPrefix,
    ADMIN_TOKEN: adminToken,
    HTTP_HOST: '127.0.0.1',
    HTTP_PORT: '0',
    DNS_PORT: '0',
    LOG_LEVEL: process.env.TEST_LOG_LEVEL ?? 'silent',
    ...extra,
  };
  return {
    schema,
    redisPrefix,
    adminToken,
    env,
    cleanup: async () => {
      await dropSchema(schema);
      await deleteRedisKeys(redisPrefix);
    },
  };
}

export async function dropSchema(schema: string): Promise<void> {
  const c = new Client({ connectionString: TEST_DATABASE_URL });
  try {
    await c.connect();
    await c.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
  } catch {
    /* database may not exist yet */
  } finally {
    await c.end().catch(() => undefined);
  }
}

export async function deleteRedisKeys(prefix: string): Promise<void> {
  const r = new Redis(TEST_REDIS_URL, { maxRetriesPerRequest: 1 });
  try {
    let cursor = '0';
    do {
      const [next, keys] = await r.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 500);
      cursor = next;
      if (keys.length) await r.del(...keys);
    } while (cursor !== '0');
  } finally {
    r.disconnect();
  }
}

export interface InProcessOrchestrator extends TestEnv {
  app: NestFastifyApplication;
  url: string;
  config: AppConfig;
  close(): Promise<void>;
}

/** Start an orchestrator inside the jest process. */
export async function startOrchestrator(
  label: string,
  extra: Record<string, string> = {},
): Promise<InProcessOrchestrator> {
  const t = testEnv(label, extra);
  const config = loadConfig(t.env);
  const app = await createApp(config);
  const host = t.env.HTTP_HOST ?? '127.0.0.1';
  await app.listen({ host, port: 0 });
  const addr = app.getHttpServer().address() as { port: number };
  return {
    ...t,
    app,
    config,
    url: `http://${host}:${addr.port}`,
    close: async () => {
      await app.close().catch(() => undefined);
      await t.cleanup();
    },
  };
}

export interface ChildOrchestrator {
  child: ChildProcess;
  url: string;
  logs: string[];
  stop(signal?: NodeJS.Signals): Promise<void>;
}

const children = new Set<ChildProcess>();
process.on('exit', () => {
  for (const c of children) c.kill('SIGKILL');
});

/** Run the built orchestrator (dist/) as a real process with the given env; waits for /health/ready. */
export async function spawnOrchestrator(
  env: Record<string, string>,
  port: number,
): Promise<ChildOrchestrator> {
  const logs: string[] = [];
  const child = spawn(process.execPath, [path.join(ROOT, 'dist/apps/orchestrator/src/main.js')], {
    env: { ...process.env, ...env, HTTP_PORT: String(port), MIGRATE_ON_START: 'true' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  children.add(child);
  child.stdout!.on('data', (d) => logs.push(String(d)));
  child.stderr!.on('data', (d) => logs.push(String(d)));
  child.on('exit', () => children.delete(child));
  const url = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + 30000;
  for (;;) {
    if (child.exitCode !== null)
      throw new Error(`orchestrator exited ${child.exitCode}: ${logs.join('').slice(-2000)}`);
    try {
      const r = await fetch(`${url}/health/ready`, { signal: AbortSignal.timeout(1000) });
      if (r.status === 200) break;
    } catch {
      /* not up yet */
    }
    if (Date.now() > deadline) {
      child.kill('SIGKILL');
      throw new Error(`orchestrator did not become ready: ${logs.join('').slice(-2000)}`);
    }
    await new Promise((r) => setTimeout(r, 200));
  }
  return {
    child,
    url,
    logs,
    stop: (signal: NodeJS.Signals = 'SIGTERM') =>
      new Promise<void>((resolve) => {
        if (child.exitCode !== null || child.signalCode !== null) return resolve();
        const t = setTimeout(() => child.kill('SIGKILL'), 10000);
        child.once('exit', () => {
          clearTimeout(t);
          resolve();
        });
        child.kill(signal);
      }),
  };
}

export async function waitFor<T>(
  what: string,
  fn: () => Promise<T | undefined | null | false>,
  timeoutMs = 30000,
  intervalMs = 100,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const v = await fn();
      if (v) return v;
    } catch (err) {
      last = err;
    }
    if (Date.now() > deadline)
      throw new Error(`timed out waiting for ${what}${last ? `: ${String(last)}` : ''}`);
    await new Promise((r) => setTimeout(r, intervalMs));
  }
}
