/**
 * UDP heartbeat throughput of ONE orchestrator process (goal: ≥ 80,000 heartbeats/s on one core,
 * p99 ≤ 20 ms), against a reference in the same run on the same core: a bare node:dgram server
 * that reads the node id and sequence number of each datagram, updates a map entry and answers
 * with a datagram of the acknowledgement's size (no signature, no parsing beyond that).
 *
 * The orchestrator runs as a child process (all roles) with HEARTBEAT_UDP_PORT; N nodes are
 * registered through the API (own agent tokens, 2-node scenarios) and each sends one HTTP
 * heartbeat first (which teaches the orchestrator its UDP key and gives the datagrams their base).
 * Then this process, pinned to another core, sends signed datagrams (each node's sequence numbers
 * in order; one check result, one peer view each, as an agent of one scenario sends) at each
 * offered rate, and counts what the orchestrator accepted (ha_heartbeat_udp_datagrams_total) and
 * the acknowledgements' round trips.
 *
 *   npm run build && node dist/bench/heartbeat-udp.js [--nodes 1000] [--rates 5000,10000,max]
 *     [--seconds 8] [--warmup 2]
 *
 * Own schema and Redis prefix (dropped at the end); orchestrator HTTP 127.0.0.1:18136, UDP :18137,
 * DNS :16136, reference UDP :18138.
 */
import 'reflect-metadata';
import { ChildProcess, spawn } from 'node:child_process';
import dgram from 'node:dgram';
import { KeyObject } from 'node:crypto';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { encodeUdpHeartbeat, udpBootKey, udpHeartbeatKey, uuidHex } from '@ha/contracts';
import { ChildOrchestrator, spawnOrchestrator } from './lib/child-orchestrator';
import { apiClient, benchEnv, heartbeatCounters, pct, pin, progress, runBench, sleep } from './lib/common';
import { summariseProfile } from './lib/cpu-profile';
import type { ProbeReply } from './lib/probe-preload';
import { body, registerSimNodes, SimNode } from './lib/sim-nodes';

const HTTP_PORT = 18136;
const UDP_PORT = 18137;
const DNS_PORT = 16136;
const REFERENCE_PORT = 18138;

function arg(name: string, fallback: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 && process.argv[i + 1] !== undefined ? process.argv[i + 1] : fallback;
}

const NODES = Math.max(2, Number(arg('nodes', '1000')));
const RATES = arg('rates', '5000,10000,max').split(',');
const SECONDS = Math.max(1, Number(arg('seconds', '8')));
const WARMUP = Math.max(0, Number(arg('warmup', '2')));
const PROFILE = Math.max(0, Number(arg('profile', '0')));
const PROFILE_OUT = arg('profile-out', join(tmpdir(), `heartbeat-udp-${Date.now()}.cpuprofile`));
const SERVER_CPU = arg('server-cpu', '1');
const LOAD_CPU = arg('load-cpu', '0');

interface Sender {
  node: SimNode;
  hex: string;
  key: KeyObject;
  bootKey: string;
  baseSeq: number;
  /** send times by seq % SENT_RING (a saturated server answers late, after later datagrams) */
  sentAt: Float64Array;
}

interface Level {
  offered: string;
  sentPerSecond: number;
  acceptedPerSecond: number;
  ackedPerSecond: number;
  ackRttMs: { p50: number; p99: number; max: number };
  serverCpuPctOfOneCore?: number;
  /** the orchestrator's event-loop delay while measuring */
  serverLoopDelayMs?: { p50: number; p99: number; max: number };
}

const SENT_RING = 256;
const round = (n: number, d = 2) => Math.round(n * 10 ** d) / 10 ** d;

const udpCounter = async (url: string, result: string) => (await heartbeatCounters(url)).udp[result] ?? 0;

/**
 * Sends datagrams round-robin over the senders at `rate` per second ('max': as fast as the socket
 * takes them) until `stopAt`; acknowledgements' round trips go to `rtts` while `measuring()`.
 */
async function blast(
  socket: dgram.Socket,
  port: number,
  senders: Sender[],
  rate: number,
  stopAt: number,
  sign: boolean,
): Promise<number> {
  let sent = 0;
  let i = 0;
  const t0 = performance.now();
  const now = Date.now();
  while (performance.now() < stopAt) {
    const due = rate === Infinity ? sent + 512 : Math.floor(((performance.now() - t0) * rate) / 1000);
    let inFlight = 0;
    while (sent < due) {
      const s = senders[i];
      i = (i + 1) % senders.length;
      s.node.seq += 1;
      const dg = sign
        ? encodeUdpHeartbeat(
            {
              nodeId: s.node.id,
              bootKey: s.bootKey,
              seq: s.node.seq,
              baseSeq: s.baseSeq,
              watchdogArmed: false,
              checks: [{ status: 'ok', at: now, durationMs: 3 }],
              peerViews: s.node.peerId
                ? [{ nodeId: s.node.peerId, reachable: true, lastSeenMsAgo: 180 }]
                : [],
            },
            s.key,
          )
        : referenceDatagram(s);
      s.sentAt[s.node.seq % SENT_RING] = performance.now();
      inFlight++;
      socket.send(dg, port, '127.0.0.1', () => inFlight--);
      sent++;
      if (inFlight > 2048) break;
    }
    await new Promise((r) => setImmediate(r));
  }
  return sent;
}

/** What the reference reads: the node id's bytes at 4..20 and a sequence number at 36, padded to size. */
function referenceDatagram(s: Sender): Buffer {
  const b = Buffer.alloc(128);
  b.write(s.hex, 4, 16, 'hex');
  b.writeUInt32BE(s.node.seq >>> 0, 36);
  return b;
}

async function runLevels(
  label: string,
  port: number,
  senders: Sender[],
  sign: boolean,
  accepted: () => Promise<number>,
  cpu: (() => Promise<ProbeReply>) | null,
): Promise<Level[]> {
  const byHex = new Map(senders.map((s) => [s.hex, s]));
  const levels: Level[] = [];
  for (const offered of RATES) {
    const rate = offered === 'max' ? Infinity : Number(offered);
    const socket = dgram.createSocket({
      type: 'udp4',
      recvBufferSize: 8 * 1024 * 1024,
      sendBufferSize: 8 * 1024 * 1024,
    });
    await new Promise<void>((r) => socket.bind(0, '127.0.0.1', () => r()));
    let measuring = false;
    let acked = 0;
    const rtts: number[] = [];
    socket.on('message', (msg) => {
      if (!measuring || msg.length < 40) return;
      const s = byHex.get(msg.toString('hex', 4, 20));
      if (!s) return;
      acked++;
      const seq = msg.readUInt32BE(36);
      // Only acknowledgements of datagrams sent within the ring (older ones' slots were reused).
      if (s.node.seq - seq < SENT_RING) rtts.push(performance.now() - s.sentAt[seq % SENT_RING]);
    });
    progress(`${label}, offered ${offered}/s: warm-up ${WARMUP} s, measuring ${SECONDS} s`);
    const start = performance.now();
    const from = start + WARMUP * 1000;
    const to = from + SECONDS * 1000;
    const running = blast(socket, port, senders, rate, to, sign);
    await sleep(from - performance.now());
    measuring = true;
    const [a0, c0] = await Promise.all([accepted(), cpu?.()]);
    const sentBefore = senders.reduce((n, s) => n + s.node.seq, 0);
    const g0 = performance.now();
    await sleep(to - performance.now());
    const [a1, c1] = await Promise.all([accepted(), cpu?.()]);
    const sentAfter = senders.reduce((n, s) => n + s.node.seq, 0);
    const g1 = performance.now();
    measuring = false;
    await running;
    socket.close();
    const secs = (g1 - g0) / 1000;
    const level: Level = {
      offered,
      sentPerSecond: Math.round((sentAfter - sentBefore) / secs),
      acceptedPerSecond: Math.round((a1 - a0) / secs),
      ackedPerSecond: Math.round(acked / secs),
      ackRttMs: { p50: round(pct(rtts, 50)), p99: round(pct(rtts, 99)), max: round(Math.max(...rtts, 0)) },
    };
    if (c0 && c1) {
      level.serverCpuPctOfOneCore = round(
        (100 * (c1.cpu!.user - c0.cpu!.user + c1.cpu!.system - c0.cpu!.system)) /
          1000 /
          (c1.atMs! - c0.atMs!),
        1,
      );
      // loop delay over the measured interval (the probe resets it at each stats call)
      level.serverLoopDelayMs = c1.loopDelayMs;
    }
    progress(
      `  sent ${level.sentPerSecond}/s, accepted ${level.acceptedPerSecond}/s, acked ${level.ackedPerSecond}/s, ` +
        `ack p50 ${level.ackRttMs.p50} ms p99 ${level.ackRttMs.p99} ms` +
        (level.serverCpuPctOfOneCore !== undefined ? `, server CPU ${level.serverCpuPctOfOneCore}%` : '') +
        (level.serverLoopDelayMs
          ? `, server loop delay p99 ${round(level.serverLoopDelayMs.p99)} ms max ${round(level.serverLoopDelayMs.max)} ms`
          : ''),
    );
    levels.push(level);
    // Let the sockets drain before the next level.
    await sleep(500);
  }
  return levels;
}

let orchestrator: ChildOrchestrator | null = null;
let reference: ChildProcess | null = null;
const env = benchEnv({
  DNS_HOST: '127.0.0.1',
  DNS_PORT: String(DNS_PORT),
  HEARTBEAT_UDP_PORT: String(UDP_PORT),
  HEARTBEAT_UDP_HOST: '127.0.0.1',
  LOG_LEVEL: 'warn',
});

async function main(): Promise<void> {
  progress(`starting the orchestrator on 127.0.0.1:${HTTP_PORT} (UDP :${UDP_PORT})`);
  const o = (orchestrator = await spawnOrchestrator({ env: env.env, port: HTTP_PORT, probe: true }));
  pin(process.pid, LOAD_CPU);
  pin(o.child.pid!, SERVER_CPU);
  const api = apiClient(() => o.url, env.adminToken);
  progress(`registering ${NODES} nodes and ${Math.floor(NODES / 2)} scenarios`);
  const nodes = await registerSimNodes(api, o.url, NODES);
  progress('one HTTP heartbeat per node (teaches the orchestrator each UDP key)');
  const senders: Sender[] = [];
  for (let i = 0; i < nodes.length; i += 50) {
    await Promise.all(
      nodes.slice(i, i + 50).map(async (n) => {
        const r = await fetch(`${o.url}/api/v1/heartbeats`, {
          method: 'POST',
          headers: { authorization: `Bearer ${n.token}`, 'content-type': 'application/json' },
          body: body(n, Date.now()),
        });
        const answer = (await r.json()) as { udpPort?: number };
        if (r.status !== 200 || answer.udpPort !== UDP_PORT)
          throw new Error(`HTTP heartbeat: ${r.status} ${JSON.stringify(answer).slice(0, 300)}`);
        senders.push({
          node: n,
          hex: uuidHex(n.id)!,
          key: udpHeartbeatKey(n.token, n.id),
          bootKey: udpBootKey(n.bootId),
          baseSeq: n.seq,
          sentAt: new Float64Array(SENT_RING),
        });
      }),
    );
  }
  const ours = await runLevels(
    'orchestrator',
    UDP_PORT,
    senders,
    true,
    () => udpCounter(o.url, 'accepted'),
    () => o.probe({ op: 'stats' }),
  );
  let profile: unknown = null;
  if (PROFILE > 0) {
    progress(`profiling the orchestrator for ${PROFILE} s at the highest offered rate`);
    const socket = dgram.createSocket('udp4');
    const running = blast(
      socket,
      UDP_PORT,
      senders,
      RATES.includes('max') ? Infinity : Math.max(...RATES.map(Number)),
      performance.now() + (PROFILE + 1) * 1000,
      true,
    );
    await sleep(500);
    await o.probe({ op: 'profile-start', intervalUs: 500 });
    await sleep(PROFILE * 1000);
    await o.probe({ op: 'profile-stop', file: PROFILE_OUT });
    await running;
    socket.close();
    profile = { file: PROFILE_OUT, ...summariseProfile(PROFILE_OUT, 30) };
  }
  const rejected = {
    forged: await udpCounter(o.url, 'forged'),
    replay: await udpCounter(o.url, 'replay'),
    malformed: await udpCounter(o.url, 'malformed'),
    needFull: await udpCounter(o.url, 'need_full'),
  };
  await o.stop('SIGTERM').catch(() => undefined);
  orchestrator = null;

  reference = spawn(process.execPath, [join(__dirname, 'lib/udp-reference.js'), String(REFERENCE_PORT)], {
    stdio: ['ignore', 'pipe', 'inherit', 'ipc'],
  });
  await new Promise<void>((resolve, reject) => {
    reference!.stdout!.once('data', () => resolve());
    reference!.once('exit', (code) => reject(new Error(`reference exited ${code}`)));
  });
  pin(reference.pid!, SERVER_CPU);
  const ref = reference;
  const referenceCount = () =>
    new Promise<number>((resolve) => {
      ref.once('message', (m) => resolve(Number(m)));
      ref.send('count');
    });
  const refLevels = await runLevels(
    'reference (bare dgram)',
    REFERENCE_PORT,
    senders,
    false,
    referenceCount,
    null,
  );
  reference.kill('SIGKILL');
  reference = null;

  const ratios = ours.map((l, i) => ({
    offered: l.offered,
    ours: l.acceptedPerSecond,
    reference: refLevels[i].acceptedPerSecond,
    ratio: round(l.acceptedPerSecond / refLevels[i].acceptedPerSecond, 3),
  }));
  for (const r of ratios)
    progress(`offered ${r.offered}: ${r.ours}/s vs bare dgram ${r.reference}/s → ${r.ratio}×`);
  console.log(
    JSON.stringify(
      {
        bench: 'heartbeat-udp',
        pinned: { server: SERVER_CPU, loadGenerator: LOAD_CPU },
        nodes: NODES,
        levels: ours,
        reference: refLevels,
        ratios,
        rejected,
        profile,
        date: new Date().toISOString(),
        machine: { cpus: cpus().length, model: cpus()[0]?.model, node: process.version },
      },
      null,
      2,
    ),
  );
}

runBench(main, async () => {
  reference?.kill('SIGKILL');
  await orchestrator?.stop('SIGTERM').catch(() => undefined);
  await env.cleanup();
});
