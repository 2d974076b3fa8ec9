/**
 * Network checks the orchestrator runs itself. Each returns a Nagios-style status and never
 * throws: a probe that errors is `critical` (the target did not answer) or `unknown` (we could
 * not ask, e.g. a bad URL).
 */
import net from 'node:net';
import { CheckStatus } from '@ha/contracts';
import { Client } from 'pg';
import ping from 'ping';
import { ScenarioCheck } from '../scenarios/scenario.types';

export interface ProbeResult {
  status: CheckStatus;
  output: string;
  durationMs: number;
}

export interface ProbeTarget {
  address: string;
}

function expand(template: string, target: ProbeTarget): string {
  return template.replace(/\{address\}/g, target.address.includes(':') ? `[${target.address}]` : target.address);
}

export async function runProbe(check: ScenarioCheck, target: ProbeTarget): Promise<ProbeResult> {
  const started = Date.now();
  const done = (status: CheckStatus, output: string): ProbeResult => ({
    status,
    output: output.slice(0, 512),
    durationMs: Date.now() - started,
  });
  try {
    switch (check.kind) {
      case 'ping': {
        const res = await ping.promise.probe(target.address, {
          timeout: Math.max(1, Math.ceil(check.timeoutMs / 1000)),
          min_reply: 1,
        });
        return done(res.alive ? 'ok' : 'critical', res.alive ? `rtt ${res.time} ms` : 'no reply');
      }
      case 'tcp':
        await tcpConnect(target.address, check.port!, check.timeoutMs);
        return done('ok', `connected to ${target.address}:${check.port}`);
      case 'http': {
        const res = await fetch(expand(check.target!, target), { signal: AbortSignal.timeout(check.timeoutMs) });
        const body = await res.text();
        const expected = check.expectStatus ?? 200;
        if (res.status !== expected) return done('critical', `status ${res.status}, expected ${expected}`);
        if (check.expectBody && !body.includes(check.expectBody)) return done('critical', 'expected body not found');
        return done('ok', `status ${res.status}`);
      }
      case 'database': {
        const client = new Client({
          connectionString: expand(check.target!, target),
          connectionTimeoutMillis: check.timeoutMs,
          statement_timeout: check.timeoutMs,
        });
        client.on('error', () => undefined);
        try {
          await client.connect();
          const res = await client.query({ text: check.query ?? 'select 1', rowMode: 'array' });
          const value = res.rows[0]?.[0];
          if (check.expectResult !== undefined && String(value) !== check.expectResult) {
            return done('critical', `query returned ${String(value)}, expected ${check.expectResult}`);
          }
          return done('ok', `query returned ${String(value)}`);
        } finally {
          await client.end().catch(() => undefined);
        }
      }
      default:
        return done('unknown', `${check.kind} is not a network check`);
    }
  } catch (err) {
    const e = err as Error & { code?: string };
    if (e.name === 'TypeError' && /URL/i.test(e.message)) return done('unknown', e.message);
    return done('critical', e.code ? `${e.code}: ${e.message}` : e.message);
  }
}

export function tcpConnect(host: string, port: number, timeoutMs: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const socket = net.connect({ host, port });
    const timer = setTimeout(() => {
      socket.destroy();
      reject(Object.assign(new Error(`timed out after ${timeoutMs} ms`), { code: 'ETIMEDOUT' }));
    }, timeoutMs);
    socket.once('connect', () => {
      clearTimeout(timer);
      socket.end();
      resolve();
    });
    socket.once('error', (err) => {
      clearTimeout(timer);
      socket.destroy();
      reject(err);
    });
  });
}
