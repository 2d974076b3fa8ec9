/**
 * Detection shared by three orchestrator instances (child processes, all roles, one schema and
 * Redis prefix) watching N simulated nodes at one heartbeat a second each: how the nodes spread over
 * the instances, what each costs (CPU, RSS), and what happens when one is killed (kill -9): how long
 * until its share is owned by the others, and whether any node is falsely failed.
 *
 * The simulated agents behave like the real one with `udpHeartbeats: true`: a full HTTP heartbeat to
 * each instance the answers name as the node's owner and backup, then one signed datagram a second
 * to each, HTTP again when an acknowledgement asks for it (unknown base, or members changed) or an
 * instance stops answering. Scenarios (node pairs, manual mode: a false failure shows as a `failed`
 * verdict and an alert, never a failover) are set `running` directly in the benchmark's own schema,
 * since there are no agents to run a start operation.
 *
 *   npm run build && node dist/bench/sharded-detection.js [--nodes 10000] [--settle 20] [--after 20]
 *
 * Own schema and Redis prefix (dropped at the end); instances on 127.0.0.1:18170-18172 (HTTP),
 * :18173-18175 (UDP heartbeats), :16170-16172 (DNS).
 */
import 'reflect-metadata';
import dgram from 'node:dgram';
import { KeyObject, randomUUID } from 'node:crypto';
import { cpus } from 'node:os';
import { performance } from 'node:perf_hooks';
import { Client } from 'pg';
import { decodeUdpAck, encodeUdpHeartbeat, udpBootKey, udpHeartbeatKey, uuidHex } from '@ha/contracts';
import { ChildOrchestrator, spawnOrchestrator } from './lib/child-orchestrator';
import {
  apiClient,
  BENCH_DATABASE_URL,
  benchEnv,
  heartbeatCounters,
  progress,
  runBench,
  sleep,
} from './lib/common';
import type { ProbeReply } from './lib/probe-preload';

function arg(name: string, fallback: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 && process.argv[i + 1] !== undefined ? process.argv[i + 1] : fallback;
}

const NODES = Math.max(6, Number(arg('nodes', '10000')));
const SETTLE_S = Number(arg('settle', '20'));
const AFTER_S = Number(arg('after', '20'));
const INTERVAL_MS = 1000;
const TTL_MS = 5000;
const INSTANCES = [0, 1, 2].map((i) => ({ http: 18170 + i, udp: 18173 + i, dns: 16170 + i }));

interface Sim {
  id: string;
  hex: string;
  token: string;
  key: KeyObject;
  bootId: string;
  bootKey: string;
  seq: number;
  peerId: string;
  scenarioId: string;
  role: 'production' | 'replica';
  epoch: number;
  /** owner and backup URLs, from the latest answer */
  owners: string[];
  /** per instance URL: seq of the full heartbeat it took (the datagrams' base), or undefined = send HTTP */
  base: Map<string, number>;
  httpInFlight: Set<string>;
}

const round = (n: number, d = 1) => Math.round(n * 10 ** d) / 10 ** d;

let children: ChildOrchestrator[] = [];
const env = benchEnv({ LOG_LEVEL: 'warn', DETECTOR_TICK_MS: '250', HEARTBEAT_UDP_HOST: '127.0.0.1' });

function fullBody(n: Sim): string {
  n.seq += 1;
  return JSON.stringify({
    nodeId: n.id,
    seq: n.seq,
    bootId: n.bootId,
    agentTime: Date.now(),
    scenarios: [{ scenarioId: n.scenarioId, role: n.role, epoch: n.epoch }],
    checks: [],
    peerViews: [{ nodeId: n.peerId, lastSeenMsAgo: 200, reachable: true }],
  });
}

async function main(): Promise<void> {
  progress(`starting 3 orchestrator instances (${NODES} nodes to come)`);
  children = await Promise.all(
    INSTANCES.map((p) =>
      spawnOrchestrator({
        env: {
          ...env.env,
          DNS_HOST: '127.0.0.1',
          DNS_PORT: String(p.dns),
          HEARTBEAT_UDP_PORT: String(p.udp),
        },
        port: p.http,
        probe: true,
      }),
    ),
  );
  const udpPortOf = new Map(children.map((c, i) => [c.url, INSTANCES[i].udp]));
  const api = apiClient(() => children[0].url, env.adminToken);

  progress(`registering ${NODES} nodes`);
  const t0 = performance.now();
  const sims: Sim[] = [];
  for (let i = 0; i < NODES; i += 25) {
    const batch = await Promise.all(
      Array.from({ length: Math.min(25, NODES - i) }, (_, k) => {
        const j = i + k;
        const address = `10.141.${j >> 8}.${j & 255}`;
        return api('POST', '/api/v1/nodes', { name: `sd-${j}`, address, agentUrl: `http://${address}:7400` });
      }),
    );
    for (const r of batch) {
      const bootId = randomUUID();
      sims.push({
        id: r.node.id,
        hex: uuidHex(r.node.id)!,
        token: r.agentToken,
        key: udpHeartbeatKey(r.agentToken, r.node.id),
        bootId,
        bootKey: udpBootKey(bootId),
        seq: 0,
        peerId: '',
        scenarioId: '',
        role: 'replica',
        epoch: 0,
        owners: [],
        base: new Map(),
        httpInFlight: new Set(),
      });
    }
  }
  progress(`  ${round((performance.now() - t0) / 1000)} s; creating ${NODES / 2} scenarios (bulk)`);
  for (let k = 0; k + 1 < sims.length; k += 1000) {
    const pairs = sims.slice(k, k + 1000);
    const scenarios = [];
    for (let m = 0; m + 1 < pairs.length; m += 2) {
      const idx = (k + m) / 2;
      scenarios.push({
        name: `sd-s${idx}`,
        productionNodeId: pairs[m].id,
        replicaNodeIds: [pairs[m + 1].id],
        dnsRecords: [{ zone: 'sd.test', name: `s${idx}.sd.test`, type: 'A', ttl: 5 }],
        failoverMode: 'manual',
        checks: [{ name: 'heartbeat', kind: 'heartbeat', intervalMs: INTERVAL_MS, ttlMs: TTL_MS }],
      });
    }
    const r = await api('POST', '/api/v1/scenarios/bulk', { scenarios });
    (r.items as { id: string; epoch: number }[]).forEach((s, i) => {
      const [p, q] = [pairs[2 * i], pairs[2 * i + 1]];
      Object.assign(p, { scenarioId: s.id, role: 'production', peerId: q.id, epoch: s.epoch });
      Object.assign(q, { scenarioId: s.id, role: 'replica', peerId: p.id, epoch: s.epoch });
    });
  }
  // No agents to run start operations: the scenarios are put in `running` in the bench's own schema.
  const pg = new Client({ connectionString: BENCH_DATABASE_URL });
  await pg.connect();
  await pg.query(
    `UPDATE "${env.schema}".scenarios SET state = 'running', "activeNodeId" = "productionNodeId"`,
  );
  await pg.end();

  // ---- the simulated agents ----
  const socket = dgram.createSocket({ type: 'udp4', recvBufferSize: 8 * 1024 * 1024 });
  await new Promise<void>((r) => socket.bind(0, '127.0.0.1', () => r()));
  const byHex = new Map(sims.map((s) => [s.hex, s]));
  const urlOfPort = new Map([...udpPortOf].map(([url, port]) => [port, url]));
  const down = new Map<string, number>();
  let acks = 0;
  let httpSent = 0;
  let datagramsSent = 0;
  let nodeRounds = 0;
  let loopTurns = 0;
  let httpFailed = 0;
  const failureSamples: string[] = [];
  socket.on('message', (msg, rinfo) => {
    const s = byHex.get(msg.toString('hex', 4, 20));
    const url = urlOfPort.get(rinfo.port);
    if (!s || !url) return;
    const ack = decodeUdpAck(msg);
    if (!ack) return;
    acks++;
    if (ack.needFull) s.base.delete(url);
  });
  const http = async (s: Sim, url: string) => {
    if (s.httpInFlight.has(url)) return;
    s.httpInFlight.add(url);
    httpSent++;
    const payload = fullBody(s);
    const seq = s.seq;
    try {
      const r = await fetch(`${url}/api/v1/heartbeats`, {
        method: 'POST',
        headers: { authorization: `Bearer ${s.token}`, 'content-type': 'application/json' },
        body: payload,
        signal: AbortSignal.timeout(900),
      });
      const answer = (await r.json()) as { owners?: string[] };
      if (r.status !== 200) {
        if (failureSamples.length < 3)
          failureSamples.push(`${r.status} ${JSON.stringify(answer).slice(0, 200)}`);
        throw new Error(String(r.status));
      }
      s.base.set(url, seq);
      if (answer.owners?.length) s.owners = answer.owners;
    } catch {
      httpFailed++;
      down.set(url, Date.now() + 5000);
      s.base.delete(url);
    } finally {
      s.httpInFlight.delete(url);
    }
  };
  let stop = false;
  const targets = (s: Sim) => {
    const live = s.owners.filter((u) => (down.get(u) ?? 0) < Date.now());
    // No owner known or none alive: like the agent, every instance.
    return live.length > 0 ? live : children.map((c) => c.url).filter((u) => (down.get(u) ?? 0) < Date.now());
  };
  const loop = (async () => {
    // Each node once a second, spread over the second.
    let i = 0;
    const start = performance.now();
    let done = 0;
    while (!stop) {
      const due = Math.floor(((performance.now() - start) * NODES) / INTERVAL_MS);
      const httpBatch: Promise<void>[] = [];
      while (done < due) {
        const s = sims[i];
        i = (i + 1) % sims.length;
        done++;
        nodeRounds++;
        for (const url of targets(s)) {
          const base = s.base.get(url);
          if (base === undefined) {
            if (httpBatch.length < 200) httpBatch.push(http(s, url));
            continue;
          }
          s.seq += 1;
          const dg = encodeUdpHeartbeat(
            {
              nodeId: s.id,
              bootKey: s.bootKey,
              seq: s.seq,
              baseSeq: base,
              watchdogArmed: false,
              checks: [],
              peerViews: [{ nodeId: s.peerId, reachable: true, lastSeenMsAgo: 200 }],
            },
            s.key,
          );
          datagramsSent++;
          socket.send(dg, udpPortOf.get(url)!, '127.0.0.1');
        }
      }
      loopTurns++;
      await new Promise((r) => setTimeout(r, 5));
    }
  })();

  const statsAll = () => Promise.all(children.map((c) => c.probe({ op: 'stats' }).catch(() => null)));
  const members = (c: ChildOrchestrator) =>
    apiClient(() => c.url, env.adminToken)<{
      evaluatedHere: number;
      members: { id: string; url: string; ownedNodes: number }[];
    }>('GET', '/api/v1/detection/members');
  const failedCount = async () => {
    const c = new Client({ connectionString: BENCH_DATABASE_URL });
    await c.connect();
    const r = await c.query(
      `SELECT count(*)::int AS n FROM "${env.schema}".events WHERE kind = 'verdict-changed' AND details->>'to' = 'failed'`,
    );
    await c.end();
    return r.rows[0].n as number;
  };
  const cpuPct = (a: ProbeReply | null, b: ProbeReply | null) =>
    a && b
      ? round(
          (100 * (b.cpu!.user - a.cpu!.user + b.cpu!.system - a.cpu!.system)) / 1000 / (b.atMs! - a.atMs!),
        )
      : null;

  progress(`agents running; settling ${SETTLE_S} s`);
  await sleep(SETTLE_S * 1000 * 0.5);
  const s0 = await statsAll();
  const a0 = acks;
  const d0 = datagramsSent;
  const n0 = nodeRounds;
  const w0 = performance.now();
  await sleep(SETTLE_S * 1000 * 0.5);
  const s1 = await statsAll();
  const ackRate = Math.round(((acks - a0) * 1000) / (performance.now() - w0));
  const sendRate = Math.round(((datagramsSent - d0) * 1000) / (performance.now() - w0));
  progress(`  datagrams sent ${sendRate}/s, node rounds ${Math.round((nodeRounds - n0) * 1000 / (performance.now() - w0))}/s, loop turns ${loopTurns}`);
  const views = await Promise.all(children.map(members));
  const perInstance = children.map((c, i) => ({
    url: c.url,
    ownedNodes: views[i].members.find((m) => m.url === c.url)?.ownedNodes ?? null,
    evaluatedNodes: views[i].evaluatedHere,
    cpuPctOfOneCore: cpuPct(s0[i], s1[i]),
    rssMB: s1[i] ? Math.round(s1[i]!.rssBytes! / 2 ** 20) : null,
  }));
  for (const p of perInstance)
    progress(
      `  ${p.url}: owns ${p.ownedNodes}, evaluates ${p.evaluatedNodes}, CPU ${p.cpuPctOfOneCore}%, RSS ${p.rssMB} MB`,
    );
  const counters = await Promise.all(children.map((c) => heartbeatCounters(c.url)));
  progress(`  counters: ${JSON.stringify(counters)}`);
  const targetCounts = new Map<number, number>();
  for (const x of sims) targetCounts.set(targets(x).length, (targetCounts.get(targets(x).length) ?? 0) + 1);
  const withBase = sims.reduce((n, x) => n + x.base.size, 0);
  progress(`  targets per node: ${JSON.stringify([...targetCounts])}; bases held: ${withBase}`);
  const failedBefore = await failedCount();
  progress(`  ${ackRate} acknowledged datagrams/s; failed verdicts so far: ${failedBefore}`);

  // ---- kill one instance ----
  const victim = children[1];
  const survivors = [children[0], children[2]];
  progress(`kill -9 of ${victim.url}`);
  const tKill = performance.now();
  await victim.stop('SIGKILL');
  let takeoverMs: number | null = null;
  while (performance.now() - tKill < 30_000) {
    const v = await Promise.all(survivors.map(members));
    if (v.every((m) => m.members.length === 2 && m.members.reduce((n, x) => n + x.ownedNodes, 0) === NODES)) {
      takeoverMs = Math.round(performance.now() - tKill);
      break;
    }
    await sleep(100);
  }
  progress(`  its share owned by the survivors after ${takeoverMs} ms; watching ${AFTER_S} s`);
  const k0 = await Promise.all(survivors.map((c) => c.probe({ op: 'stats' })));
  await sleep(AFTER_S * 1000);
  const k1 = await Promise.all(survivors.map((c) => c.probe({ op: 'stats' })));
  const failedAfter = await failedCount();
  const after = await Promise.all(survivors.map(members));
  stop = true;
  await loop;
  socket.close();
  const result = {
    bench: 'sharded-detection',
    nodes: NODES,
    heartbeatIntervalMs: INTERVAL_MS,
    ttlMs: TTL_MS,
    perInstance,
    acknowledgedDatagramsPerSecond: ackRate,
    countersBeforeKill: counters,
    falselyFailedBeforeKill: failedBefore,
    takeoverMs,
    falselyFailedAfterKill: failedAfter - failedBefore,
    survivors: survivors.map((c, i) => ({
      url: c.url,
      ownedNodes: after[i].members.find((m) => m.url === c.url)?.ownedNodes ?? null,
      evaluatedNodes: after[i].evaluatedHere,
      cpuPctOfOneCore: cpuPct(k0[i], k1[i]),
    })),
    simulatedAgents: { httpSent, httpFailed, failureSamples },
    date: new Date().toISOString(),
    machine: { cpus: cpus().length, model: cpus()[0]?.model, node: process.version },
  };
  progress(
    `falsely failed: ${result.falselyFailedBeforeKill} before, ${result.falselyFailedAfterKill} after the kill; ` +
      `survivors ${result.survivors.map((s) => `${s.ownedNodes} owned / ${s.cpuPctOfOneCore}% CPU`).join(', ')}`,
  );
  console.log(JSON.stringify(result, null, 2));
}

runBench(main, async () => {
  await Promise.all(children.map((c) => c.stop('SIGKILL').catch(() => undefined)));
  await env.cleanup();
});
