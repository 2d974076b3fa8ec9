/**
 * Failover latency, measured end to end on this machine over N runs (default 20):
 *   (a) kill -9 of the production agent → the embedded DNS server answers the replica's address;
 *   (b) failover decision (the detector's operation request, operations.createdAt) → same answer.
 * A client polls DNS every 5 ms over UDP, like a resolver would. Between runs the old production
 * agent is restarted (it comes back demoted) and a manual failback moves users back.
 *
 *   npm run build && node dist/bench/failover-latency.js [runs] [heartbeatIntervalMs] [leaseMs]
 *
 * Uses its own schema and Redis prefix (dropped at the end); agents on 127.0.0.121/122.
 */
import 'reflect-metadata';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import Redis from 'ioredis';
import { Client } from 'pg';
import { createApp } from '../apps/orchestrator/src/bootstrap';
import { loadConfig } from '../apps/orchestrator/src/config/app-config';
import { queryServer } from '../apps/orchestrator/src/dns/embedded/dns-query';
import { AgentFleet, AgentProcess, writeScript } from '../libs/testing/src/agent-harness';

const RUNS = Number(process.argv[2] ?? 20);
const INTERVAL = Number(process.argv[3] ?? 500);
// Lease + margin at or below the heartbeat TTL: by the time the detector decides, the old production's
// self-fencing lease has already expired, so fencing an unreachable production adds no wait.
const LEASE = Number(process.argv[4] ?? 3 * INTERVAL);
const DNS_PORT = 15999;
const AGENT_PORT = 17999;
const RECORD = 'app.bench.test';

function pct(values: number[], p: number): number {
  const s = [...values].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.ceil((p / 100) * s.length) - 1)];
}

async function main(): Promise<void> {
  const schema = `bench_${randomBytes(4).toString('hex')}`;
  const prefix = `habench:${schema}`;
  const admin = `adm_${randomBytes(16).toString('hex')}`;
  const config = loadConfig({
    DATABASE_URL: process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/ha_bench',
    DATABASE_SCHEMA: schema,
    REDIS_PREFIX: prefix,
    ADMIN_TOKEN: admin,
    HTTP_HOST: '127.0.0.1',
    HTTP_PORT: '0',
    DNS_PORT: String(DNS_PORT),
    DETECTOR_TICK_MS: '50',
    STORM_MAX_FAILOVERS: '1000',
    LOG_LEVEL: 'error',
  });
  const app = await createApp(config);
  await app.listen({ host: '127.0.0.1', port: 0 });
  const base = `http://127.0.0.1:${(app.getHttpServer().address() as { port: number }).port}`;
  const api = async (method: string, path: string, body?: unknown) => {
    const r = await fetch(`${base}${path}`, {
      method,
      headers: { authorization: `Bearer ${admin}`, ...(body ? { 'content-type': 'application/json' } : {}) },
      body: body ? JSON.stringify(body) : undefined,
    });
    const json = (await r.json().catch(() => ({}))) as any;
    if (r.status >= 300) throw new Error(`${method} ${path}: ${r.status} ${JSON.stringify(json)}`);
    return json;
  };
  const dir = mkdtempSync(join(tmpdir(), 'ha-bench-'));
  const fleet = new AgentFleet();
  const nodes: { id: string; address: string; config: Record<string, unknown>; agent?: AgentProcess }[] = [];
  try {
    for (const [i, name] of ['prod', 'replica'].entries()) {
      const address = `127.0.0.${121 + i}`;
      const n = await api('POST', '/api/v1/nodes', {
        name,
        address,
        agentUrl: `http://${address}:${AGENT_PORT}`,
      });
      const actions: Record<string, unknown> = {};
      for (const a of ['promote', 'demote', 'resync', 'fence']) {
        actions[a] = { command: writeScript(dir, `${name}-${a}.sh`, '#!/bin/sh\nexit 0\n'), args: [] };
      }
      nodes.push({
        id: n.node.id,
        address,
        config: {
          nodeId: n.node.id,
          nodeName: name,
          orchestrators: [base],
          token: n.agentToken,
          actionToken: n.actionToken,
          listen: { host: address, port: AGENT_PORT },
          heartbeatIntervalMs: INTERVAL,
          stateFile: join(dir, `${name}.state.json`),
          actions,
          logLevel: 'error',
        },
      });
    }
    const spawn = async (i: number) => {
      nodes[i].agent = await fleet.spawn({ dir, name: `agent${i}`, config: nodes[i].config });
    };
    await spawn(0);
    await spawn(1);
    const s = await api('POST', '/api/v1/scenarios', {
      name: 'bench',
      productionNodeId: nodes[0].id,
      replicaNodeIds: [nodes[1].id],
      dnsRecords: [{ zone: 'bench.test', name: RECORD, type: 'A', ttl: 1 }],
      failoverMode: 'auto',
      checks: [{ name: 'heartbeat', kind: 'heartbeat', intervalMs: INTERVAL, ttlMs: 4 * INTERVAL }],
      policy: { leaseMs: LEASE, leaseMarginMs: 200, holdDownMs: 0, recoveryHoldMs: 1000 },
    });
    const until = async (what: string, fn: () => Promise<boolean>, ms = 30000) => {
      const end = Date.now() + ms;
      while (!(await fn().catch(() => false))) {
        if (Date.now() > end) throw new Error(`timeout: ${what}`);
        await new Promise((r) => setTimeout(r, 5));
      }
    };
    const answer = async () =>
      (await queryServer({ host: '127.0.0.1', port: DNS_PORT, timeoutMs: 200 }, RECORD, 'A')).answers.map(
        (a) => (a as { address: string }).address,
      );
    await new Promise((r) => setTimeout(r, 3 * INTERVAL));
    await api('POST', `/api/v1/scenarios/${s.id}/start`, { reason: 'bench' });
    await until('running', async () => (await api('GET', `/api/v1/scenarios/${s.id}`)).state === 'running');

    const killToDns: number[] = [];
    const decisionToDns: number[] = [];
    for (let run = 0; run < RUNS; run++) {
      await until('DNS → production', async () => (await answer())[0] === nodes[0].address);
      // Let both agents settle in their roles and exchange peer heartbeats.
      await new Promise((r) => setTimeout(r, 3 * INTERVAL));
      const killedAt = Date.now();
      await nodes[0].agent!.kill();
      await until('DNS → replica', async () => (await answer())[0] === nodes[1].address);
      const flippedAt = Date.now();
      const ops = await api('GET', `/api/v1/operations?scenarioId=${s.id}&type=failover&limit=1`);
      const decidedAt = new Date(ops.items[0].createdAt).getTime();
      killToDns.push(flippedAt - killedAt);
      decisionToDns.push(flippedAt - decidedAt);
      process.stderr.write(
        `run ${run + 1}: kill→DNS ${flippedAt - killedAt} ms, decision→DNS ${flippedAt - decidedAt} ms\n`,
      );
      await until(
        'failed_over',
        async () => (await api('GET', `/api/v1/scenarios/${s.id}`)).state === 'failed_over',
      );
      // Bring the old production back (it demotes itself), then fail back.
      await spawn(0);
      await new Promise((r) => setTimeout(r, 3 * INTERVAL));
      const fb = await api('POST', `/api/v1/scenarios/${s.id}/failback`, { reason: 'bench reset' });
      await until(
        'failback',
        async () => (await api('GET', `/api/v1/operations/${fb.id}`)).state === 'succeeded',
      );
      // Wait until the detector has seen the production heal (hold-down) before the next kill.
      await until('healthy', async () => {
        const st = await api('GET', `/api/v1/scenarios/${s.id}/status`);
        return st.nodes.every((n: { verdict: string }) => n.verdict === 'healthy');
      });
    }
    const summary = (v: number[]) => ({
      p50: pct(v, 50),
      p99: pct(v, 99),
      min: Math.min(...v),
      max: Math.max(...v),
      mean: Math.round(v.reduce((a, b) => a + b, 0) / v.length),
    });
    console.log(
      JSON.stringify(
        {
          bench: 'failover-latency',
          runs: RUNS,
          heartbeatIntervalMs: INTERVAL,
          heartbeatTtlMs: 4 * INTERVAL,
          leaseMs: LEASE,
          killToDnsMs: summary(killToDns),
          decisionToDnsMs: summary(decisionToDns),
          samples: { killToDns, decisionToDns },
        },
        null,
        2,
      ),
    );
  } finally {
    await fleet.stopAll();
    await app.close();
    rmSync(dir, { recursive: true, force: true });
    const c = new Client({ connectionString: config.DATABASE_URL });
    await c.connect();
    await c.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
    await c.end();
    const r = new Redis(config.REDIS_URL);
    const keys = await r.keys(`${prefix}*`);
    if (keys.length) await r.del(...keys);
    r.disconnect();
  }
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
