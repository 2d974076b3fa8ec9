/**
 * Failover latency, measured end to end on this machine over N runs (default 20):
 *   (a) kill -9 of the production agent → the embedded DNS server answers the replica's address;
 *   (b) failover decision (the detector's operation request, operations.createdAt) → same answer;
 *   (c) kill -9 → the detector's `failed` verdict (the verdict-changed event).
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
import { NestFastifyApplication } from '@nestjs/platform-fastify';
import { createApp } from '../apps/orchestrator/src/bootstrap';
import { loadConfig } from '../apps/orchestrator/src/config/app-config';
import { queryServer } from '../apps/orchestrator/src/dns/embedded/dns-query';
import { AgentFleet, AgentProcess, writeScript } from '../libs/testing/src/agent-harness';
import { apiClient, benchEnv, runBench, summary, until, agentConfig } from './lib/common';

const RUNS = Number(process.argv[2] ?? 20);
const INTERVAL = Number(process.argv[3] ?? 500);
// Lease + margin at or below the heartbeat TTL: by the time the detector decides, the old production's
// self-fencing lease has already expired, so fencing an unreachable production adds no wait.
const LEASE = Number(process.argv[4] ?? 3 * INTERVAL);
const DNS_PORT = 15999;
const AGENT_PORT = 17999;
const RECORD = 'app.bench.test';

const env = benchEnv({
  DNS_PORT: String(DNS_PORT),
  DETECTOR_TICK_MS: '50',
  STORM_MAX_FAILOVERS: '1000',
  LOG_LEVEL: 'error',
});
const dir = mkdtempSync(join(tmpdir(), 'ha-bench-'));
const fleet = new AgentFleet();
let app: NestFastifyApplication | null = null;

async function main(): Promise<void> {
  const config = loadConfig(env.env);
  const started = (app = await createApp(config));
  await started.listen({ host: '127.0.0.1', port: 0 });
  const base = `http://127.0.0.1:${(started.getHttpServer().address() as { port: number }).port}`;
  const api = apiClient(() => base, env.adminToken);
  const nodes: { id: string; address: string; config: Record<string, unknown>; agent?: AgentProcess }[] = [];
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
      config: agentConfig({
        node: n,
        name,
        orchestrator: base,
        address,
        port: AGENT_PORT,
        intervalMs: INTERVAL,
        dir,
        actions,
      }),
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
  const answer = async () =>
    (await queryServer({ host: '127.0.0.1', port: DNS_PORT, timeoutMs: 200 }, RECORD, 'A')).answers.map(
      (a) => (a as { address: string }).address,
    );
  await new Promise((r) => setTimeout(r, 3 * INTERVAL));
  await api('POST', `/api/v1/scenarios/${s.id}/start`, { reason: 'bench' });
  await until('running', async () => (await api('GET', `/api/v1/scenarios/${s.id}`)).state === 'running');

  const killToDns: number[] = [];
  const decisionToDns: number[] = [];
  const killToVerdict: number[] = [];
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
    // The detector persists its events asynchronously: wait for this run's `failed` verdict.
    let failed: { at: string } | undefined;
    let seen: unknown = null;
    await until('failed verdict event', async () => {
      const verdicts = await api('GET', `/api/v1/events?nodeId=${nodes[0].id}&kind=verdict-changed&limit=5`);
      seen = verdicts.items;
      failed = verdicts.items.find(
        (e: { message: string; at: string }) =>
          e.message.includes('→ failed') && new Date(e.at).getTime() >= killedAt,
      );
      return !!failed;
    }).catch(async (err: Error) => {
      const all = await api('GET', `/api/v1/events?limit=10`).catch((e: Error) => e.message);
      throw new Error(
        `${err.message}; node's verdict events: ${JSON.stringify(seen)}; latest events: ${JSON.stringify(all)}`,
      );
    });
    killToVerdict.push(new Date(failed!.at).getTime() - killedAt);
    killToDns.push(flippedAt - killedAt);
    decisionToDns.push(flippedAt - decidedAt);
    process.stderr.write(
      `run ${run + 1}: kill→failed verdict ${killToVerdict[run]} ms, kill→DNS ${flippedAt - killedAt} ms, ` +
        `decision→DNS ${flippedAt - decidedAt} ms\n`,
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
  console.log(
    JSON.stringify(
      {
        bench: 'failover-latency',
        runs: RUNS,
        heartbeatIntervalMs: INTERVAL,
        heartbeatTtlMs: 4 * INTERVAL,
        leaseMs: LEASE,
        killToFailedVerdictMs: summary(killToVerdict),
        killToDnsMs: summary(killToDns),
        decisionToDnsMs: summary(decisionToDns),
        samples: { killToFailedVerdict: killToVerdict, killToDns, decisionToDns },
      },
      null,
      2,
    ),
  );
}

// Clean-up runs after success, failure or Ctrl-C: agents, the app, the schema and Redis keys.
runBench(main, async () => {
  await fleet.stopAll().catch(() => undefined);
  await app?.close().catch(() => undefined);
  rmSync(dir, { recursive: true, force: true });
  await env.cleanup();
});
