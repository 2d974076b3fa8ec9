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
import { readFileSync } from 'node:fs';
import { KeyObject, randomUUID } from 'node:crypto';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
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
import { summariseProfile } from './lib/cpu-profile';
import type { ProbeReply } from './lib/probe-preload';

function arg(name: string, fallback: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 && process.argv[i + 1] !== undefined ? process.argv[i + 1] : fallback;
}

const NODES = Math.max(6, Number(arg('nodes', '10000')));
const SETTLE_S = Number(arg('settle', '20'));
const AFTER_S = Number(arg('after', '20'));
const PROFILE = Number(arg('profile', '0'));
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

/** The kernel's count of UDP datagrams dropped for a full receive buffer (all sockets). */
function udpReceiveErrors(): number {
  const lines = readFileSync('/proc/net/snmp', 'utf8')
    .split('\n')
    .filter((l) => l.startsWith('Udp:'));
  const [names, values] = lines.map((l) => l.split(/\s+/));
  return Number(values?.[names.indexOf('RcvbufErrors')] ?? NaN);
}

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
  for (let i = 0; i < NODES; i += 1000) {
    const r = await api('POST', '/api/v1/nodes/bulk', {
      nodes: Array.from({ length: Math.min(1000, NODES - i) }, (_, k) => {
        const j = i + k;
        const address = `10.141.${j >> 8}.${j & 255}`;
        return { name: `sd-${j}`, address, agentUrl: `http://${address}:7400` };
      }),
    });
    for (const item of r.items as { node: { id: string }; agentToken: string }[]) {
      const bootId = randomUUID();
      sims.push({
        id: item.node.id,
        hex: uuidHex(item.node.id)!,
        token: item.agentToken,
        key: udpHeartbeatKey(item.agentToken, item.node.id),
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
        // The orchestrator's own view decides (no peer confirmation needed): heartbeats lost in a
        // takeover show as `failed` verdicts, instead of hiding behind peers that still see the node.
        policy: { peerQuorum: 0 },
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

  // ---- the simulated agents ----
  const socket = dgram.createSocket({ type: 'udp4', recvBufferSize: 8 * 1024 * 1024 });
  await new Promise<void>((r) => socket.bind(0, '127.0.0.1', () => r()));
  const byHex = new Map(sims.map((s) => [s.hex, s]));
  const urlOfPort = new Map([...udpPortOf].map(([url, port]) => [port, url]));
  let httpInFlight = 0;
  let acks = 0;
  let httpSent = 0;
  let datagramsSent = 0;
  let behind = 0;
  let httpFailed = 0;
  const failureSamples: string[] = [];
  socket.on('message', (msg, rinfo) => {
    const s = byHex.get(msg.toString('hex', 4, 20));
    const url = urlOfPort.get(rinfo.port);
    if (!s || !url) return;
    const ack = decodeUdpAck(msg);
    if (!ack) return;
    acks++;
    // Like the agent: a full heartbeat now, datagrams meanwhile.
    if (ack.needFull) void http(s, url);
  });
  const http = async (s: Sim, url: string) => {
    // Single flight per node and instance, like the agent; at most 64 at once overall (real agents
    // are many processes: one process running 1,000s of fetches at once starves its own datagrams).
    if (s.httpInFlight.has(url) || httpInFlight >= 64) return;
    s.httpInFlight.add(url);
    httpInFlight++;
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
      s.base.delete(url);
    } finally {
      s.httpInFlight.delete(url);
      httpInFlight--;
    }
  };
  let stop = false;
  const allUrls = children.map((c) => c.url);
  // No owner known yet: like the agent, every instance.
  const targets = (s: Sim) => (s.owners.length > 0 ? s.owners : allUrls);
  const loop = (async () => {
    // Each node once a second, spread over the second.
    let i = 0;
    const start = performance.now();
    let done = 0;
    while (!stop) {
      const due = Math.floor(((performance.now() - start) * NODES) / INTERVAL_MS);
      // Never more than a second behind (this process is starved, not the orchestrators: counted),
      // and never hold the event loop (acknowledgements, answers and timers must get through).
      if (due - done > NODES) {
        behind += due - done - NODES;
        done = due - NODES;
      }
      for (let turn = 0; done < due && turn < 400; turn++) {
        const s = sims[i];
        i = (i + 1) % sims.length;
        done++;
        for (const url of targets(s)) {
          const base = s.base.get(url);
          if (base === undefined) {
            void http(s, url);
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
      await new Promise((r) => setTimeout(r, 5));
    }
  })();

  const statsAll = () => Promise.all(children.map((c) => c.probe({ op: 'stats' }).catch(() => null)));
  const members = (c: ChildOrchestrator) =>
    apiClient(() => c.url, env.adminToken)<{
      evaluatedHere: number;
      members: { id: string; url: string; ownedNodes: number }[];
    }>('GET', '/api/v1/detection/members');
  const verdictCount = async (to: string) => {
    const c = new Client({ connectionString: BENCH_DATABASE_URL });
    await c.connect();
    const r = await c.query(
      `SELECT count(*)::int AS n FROM "${env.schema}".events WHERE kind = 'verdict-changed' AND details->>'to' = $1`,
      [to],
    );
    await c.end();
    return r.rows[0].n as number;
  };
  const elu = (a: ProbeReply | null, b: ProbeReply | null) => {
    if (!a || !b) return null;
    const active = b.elu!.active - a.elu!.active;
    return round(active / (active + b.elu!.idle - a.elu!.idle), 2);
  };
  const cpuPct = (a: ProbeReply | null, b: ProbeReply | null) =>
    a && b
      ? round(
          (100 * (b.cpu!.user - a.cpu!.user + b.cpu!.system - a.cpu!.system)) / 1000 / (b.atMs! - a.atMs!),
        )
      : null;

  // The agents are up before their scenarios start (as with a start operation): every node has
  // had its first heartbeat taken before anything watches it.
  await (async () => {
    const until = performance.now() + 30_000;
    while (sims.some((x) => x.owners.length === 0) && performance.now() < until) await sleep(200);
  })();
  // No agents to run start operations: the scenarios are put in `running` in the bench's own schema.
  const pg = new Client({ connectionString: BENCH_DATABASE_URL });
  await pg.connect();
  await pg.query(
    `UPDATE "${env.schema}".scenarios SET state = 'running', "activeNodeId" = "productionNodeId"`,
  );
  await pg.end();
  progress(`agents running, scenarios running; settling ${SETTLE_S} s`);
  await sleep(SETTLE_S * 1000 * 0.5);
  const failedAtSettle = await verdictCount('failed');
  const s0 = await statsAll();
  const r0 = udpReceiveErrors();
  const a0 = acks;
  const d0 = datagramsSent;
  const w0 = performance.now();
  await sleep(SETTLE_S * 1000 * 0.5);
  const s1 = await statsAll();
  const rcvbufErrors = udpReceiveErrors() - r0;
  progress(`  UDP receive buffer errors on this machine meanwhile: ${rcvbufErrors}`);
  let profile: unknown = null;
  if (PROFILE > 0) {
    const file = join(tmpdir(), `sharded-detection-${Date.now()}.cpuprofile`);
    await children[0].probe({ op: 'profile-start', intervalUs: 1000 });
    await sleep(PROFILE * 1000);
    await children[0].probe({ op: 'profile-stop', file });
    const p = summariseProfile(file, 25);
    profile = { file, topSelf: p.topSelf, topInclusive: p.topInclusive, byPackage: p.byPackage };
  }
  const ackRate = Math.round(((acks - a0) * 1000) / (performance.now() - w0));
  const sendRate = Math.round(((datagramsSent - d0) * 1000) / (performance.now() - w0));
  progress(`  datagrams sent ${sendRate}/s`);
  const views = await Promise.all(children.map(members));
  const perInstance = children.map((c, i) => ({
    url: c.url,
    ownedNodes: views[i].members.find((m) => m.url === c.url)?.ownedNodes ?? null,
    evaluatedNodes: views[i].evaluatedHere,
    cpuPctOfOneCore: cpuPct(s0[i], s1[i]),
    eventLoopUtilization: elu(s0[i], s1[i]),
    rssMB: s1[i] ? Math.round(s1[i]!.rssBytes! / 2 ** 20) : null,
  }));
  for (const p of perInstance)
    progress(
      `  ${p.url}: owns ${p.ownedNodes}, evaluates ${p.evaluatedNodes}, CPU ${p.cpuPctOfOneCore}%, RSS ${p.rssMB} MB`,
    );
  const counters = await Promise.all(children.map((c) => heartbeatCounters(c.url)));
  progress(`  counters: ${JSON.stringify(counters)}`);
  const failedBefore = await verdictCount('failed');
  const suspectBefore = await verdictCount('suspect');
  progress(
    `  ${ackRate} acknowledged datagrams/s; failed verdicts while starting ${failedAtSettle}, then ${failedBefore - failedAtSettle}`,
  );

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
  const failedAfter = await verdictCount('failed');
  const suspectAfter = await verdictCount('suspect');
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
    sentDatagramsPerSecond: sendRate,
    udpReceiveBufferErrorsWhileSettling: rcvbufErrors,
    countersBeforeKill: counters,
    /** the second half of the settling time (steady state) */
    falselyFailedBeforeKill: failedBefore - failedAtSettle,
    failedWhileStarting: failedAtSettle,
    takeoverMs,
    falselyFailedAfterKill: failedAfter - failedBefore,
    suspectBeforeKill: suspectBefore,
    suspectAfterKill: suspectAfter - suspectBefore,
    survivors: survivors.map((c, i) => ({
      url: c.url,
      ownedNodes: after[i].members.find((m) => m.url === c.url)?.ownedNodes ?? null,
      evaluatedNodes: after[i].evaluatedHere,
      cpuPctOfOneCore: cpuPct(k0[i], k1[i]),
    })),
    profile,
    simulatedAgents: { httpSent, httpFailed, failureSamples, nodeRoundsSkippedBehind: behind },
    date: new Date().toISOString(),
    machine: { cpus: cpus().length, model: cpus()[0]?.model, node: process.version },
  };
  progress(
    `falsely failed: ${result.falselyFailedBeforeKill} in steady state, ${result.falselyFailedAfterKill} after the kill; ` +
      `survivors ${result.survivors.map((s) => `${s.ownedNodes} owned / ${s.cpuPctOfOneCore}% CPU`).join(', ')}`,
  );
  console.log(JSON.stringify(result, null, 2));
}

runBench(main, async () => {
  await Promise.all(children.map((c) => c.stop('SIGKILL').catch(() => undefined)));
  await env.cleanup();
});
