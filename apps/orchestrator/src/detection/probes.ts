/**
 * Network checks the orchestrator runs itself. Each returns a Nagios-style status and never
 * throws: a probe that errors is `critical` (the target did not answer) or `unknown` (we could
 * not ask, e.g. a bad URL or a check without its port). Every probe ends within its timeout
 * (plus a small grace): a probe that hangs would otherwise hold a scheduler slot forever.
 *
 * Every check opens a fresh connection: a pooled keep-alive connection could keep answering
 * while the service no longer accepts new ones, which is what users would hit.
 */
import http from 'node:http';
import https from 'node:https';
import net from 'node:net';
import { CheckStatus } from '@ha/contracts';
import mysql from 'mysql2/promise';
import { Client } from 'pg';
import ping from 'ping';
import { jsonbSafe } from '../heartbeats/jsonb-safe';
import { ScenarioCheck } from '../scenarios/scenario.types';
import { Pinger } from './ping-batch';

export interface ProbeResult {
  status: CheckStatus;
  output: string;
  durationMs: number;
}

export interface ProbeTarget {
  address: string;
}

/** How much of an http body is read to look for `expectBody`. */
export const HTTP_BODY_LIMIT = 64 * 1024;
const OUTPUT_LIMIT = 512;
/** Extra time a probe gets beyond its timeout before the deadline guard answers for it. */
const DEADLINE_GRACE_MS = 1000;

function expand(template: string, target: ProbeTarget): string {
  return template.replace(
    /\{address\}/g,
    target.address.includes(':') ? `[${target.address}]` : target.address,
  );
}

export interface ProbeOptions {
  /** ping checks go through this (batched fping) instead of one `ping` process per probe */
  pinger?: Pinger | null;
}

export async function runProbe(
  check: ScenarioCheck,
  target: ProbeTarget,
  opts: ProbeOptions = {},
): Promise<ProbeResult> {
  const started = Date.now();
  const done = (status: CheckStatus, output: string): ProbeResult => ({
    status,
    output: jsonbSafe(output.slice(0, OUTPUT_LIMIT)), // stored as jsonb in evidence
    durationMs: Date.now() - started,
  });
  let guard: NodeJS.Timeout | undefined;
  const deadline = new Promise<ProbeResult>((resolve) => {
    guard = setTimeout(
      () => resolve(done('critical', `no answer within ${check.timeoutMs} ms`)),
      check.timeoutMs + DEADLINE_GRACE_MS,
    );
  });
  try {
    return await Promise.race([probe(check, target, done, opts), deadline]);
  } catch (err) {
    const e = err as Error & { code?: string };
    if (e.name === 'TypeError' && /URL/i.test(e.message)) return done('unknown', e.message);
    return done('critical', e.code ? `${e.code}: ${e.message}` : e.message);
  } finally {
    clearTimeout(guard);
  }
}

async function probe(
  check: ScenarioCheck,
  target: ProbeTarget,
  done: (status: CheckStatus, output: string) => ProbeResult,
  opts: ProbeOptions,
): Promise<ProbeResult> {
  switch (check.kind) {
    case 'ping': {
      if (opts.pinger) {
        const r = await opts.pinger.ping(target.address, check.timeoutMs);
        return done(r.alive === null ? 'unknown' : r.alive ? 'ok' : 'critical', r.output);
      }
      const seconds = Math.max(1, Math.ceil(check.timeoutMs / 1000));
      // -W bounds the wait for the reply, -w the whole run (name resolution included).
      const res = await ping.promise.probe(target.address, {
        timeout: seconds,
        deadline: seconds,
        min_reply: 1,
      });
      return done(res.alive ? 'ok' : 'critical', res.alive ? `rtt ${String(res.time)} ms` : 'no reply');
    }
    case 'tcp':
      if (!check.port) return done('unknown', 'tcp check without a port');
      await tcpConnect(target.address, check.port, check.timeoutMs);
      return done('ok', `connected to ${target.address}:${check.port}`);
    case 'http': {
      if (!check.target) return done('unknown', 'http check without a target');
      const res = await httpGet(new URL(expand(check.target, target)), check.timeoutMs, HTTP_BODY_LIMIT);
      const expected = check.expectStatus ?? 200;
      if (res.status !== expected) return done('critical', `status ${res.status}, expected ${expected}`);
      if (check.expectBody && !res.body.includes(check.expectBody)) {
        return done('critical', `status ${res.status} but the expected body was not found`);
      }
      return done('ok', `status ${res.status}`);
    }
    case 'database': {
      if (!check.target) return done('unknown', 'database check without a target');
      if (/^(mysql|mariadb):\/\//i.test(check.target))
        return mysqlProbe(check, expand(check.target, target), done);
      const client = new Client({
        connectionString: expand(check.target, target),
        connectionTimeoutMillis: check.timeoutMs,
        statement_timeout: check.timeoutMs,
        // Client-side bound too: a server that stops answering mid-query never sends the timeout.
        query_timeout: check.timeoutMs,
      });
      client.on('error', () => undefined);
      try {
        await client.connect();
        const res = await client.query({ text: check.query ?? 'select 1', rowMode: 'array' });
        const value = (res.rows[0] as unknown[] | undefined)?.[0];
        if (check.expectResult !== undefined && String(value) !== check.expectResult) {
          return done('critical', `query returned ${String(value)}, expected ${check.expectResult}`);
        }
        return done('ok', `query returned ${String(value)}`);
      } finally {
        void client.end().catch(() => undefined);
      }
    }
    default:
      return done('unknown', `${check.kind} is not a network check`);
  }
}

/** MySQL/MariaDB (mysql2): same contract as the PostgreSQL check, first column of the first row. */
async function mysqlProbe(
  check: ScenarioCheck,
  url: string,
  done: (status: CheckStatus, output: string) => ProbeResult,
): Promise<ProbeResult> {
  const conn = await mysql.createConnection({
    uri: url.replace(/^mariadb:/i, 'mysql:'),
    connectTimeout: check.timeoutMs,
  });
  conn.on('error', () => undefined);
  try {
    const [rows] = await conn.query({
      sql: check.query ?? 'select 1',
      timeout: check.timeoutMs,
      rowsAsArray: true,
    });
    const value = (rows as unknown[][])[0]?.[0];
    if (check.expectResult !== undefined && String(value) !== check.expectResult) {
      return done('critical', `query returned ${String(value)}, expected ${check.expectResult}`);
    }
    return done('ok', `query returned ${String(value)}`);
  } finally {
    conn.destroy();
  }
}

/**
 * Connects and closes at once with a reset (SO_LINGER 0, as HAProxy's checks do): the prober
 * keeps no TIME_WAIT socket per check, so thousands of checks per second do not use up ports.
 */
export function tcpConnect(host: string, port: number, timeoutMs: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const socket = net.connect({ host, port });
    const timer = setTimeout(() => {
      socket.destroy();
      reject(Object.assign(new Error(`timed out after ${timeoutMs} ms`), { code: 'ETIMEDOUT' }));
    }, timeoutMs);
    socket.once('connect', () => {
      clearTimeout(timer);
      socket.resetAndDestroy();
      resolve();
    });
    socket.on('error', (err) => {
      clearTimeout(timer);
      socket.destroy();
      reject(err);
    });
  });
}

/** GET on a fresh connection (no pooled keep-alive), whole exchange within timeoutMs, body capped. */
export function httpGet(
  url: URL,
  timeoutMs: number,
  bodyLimit: number,
): Promise<{ status: number; body: string }> {
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    return Promise.reject(new TypeError(`unsupported URL protocol ${url.protocol}`));
  }
  const lib = url.protocol === 'https:' ? https : http;
  return new Promise((resolve, reject) => {
    const req = lib.request(url, {
      method: 'GET',
      agent: false,
      headers: { 'user-agent': 'ha-orchestrator-check' },
    });
    const timer = setTimeout(() => {
      req.destroy(Object.assign(new Error(`timed out after ${timeoutMs} ms`), { code: 'ETIMEDOUT' }));
    }, timeoutMs);
    req.on('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
    req.once('response', (res) => {
      const chunks: Buffer[] = [];
      let size = 0;
      const finish = () => {
        clearTimeout(timer);
        resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8') });
        req.destroy();
      };
      res.on('data', (chunk: Buffer) => {
        if (size >= bodyLimit) return;
        chunks.push(chunk.subarray(0, bodyLimit - size));
        size += chunk.length;
        if (size >= bodyLimit) finish();
      });
      res.once('end', finish);
      res.on('error', (err) => {
        clearTimeout(timer);
        reject(err);
      });
    });
    req.end();
  });
}
