/**
 * Heartbeat throughput of ONE orchestrator process: how many valid agent heartbeats per second
 * `POST /api/v1/heartbeats` accepts, at what latency, with how much CPU (target: 10,000/s).
 *
 * The orchestrator runs as a real child process (all roles, as deployed alone), so this load
 * generator does not share its event loop; both still share this machine's cores. The benchmark
 * registers N nodes through the API (each with its own agent token) in 2-node scenarios, then
 * keeps `concurrency` requests in flight over keep-alive connections (http.Agent; undici and
 * autocannon are not installed), each node's heartbeats in sequence (seq increasing, like an agent).
 * Bodies are full HeartbeatRequests: one scenario role report, one local check result, one peer view.
 *
 * Per concurrency level: `warmup` s, then `seconds` s measured. Then, at the last level, `profile` s
 * with the V8 sampling profiler on inside the orchestrator (in-process via node:inspector, started
 * over IPC by bench/lib/probe-preload.js) and a summary of the hot spots.
 *
 *   npm run build && node dist/bench/heartbeat-throughput.js [--nodes 200] [--concurrency 64|8,64]
 *     [--seconds 10] [--warmup 3] [--profile 5] [--profile-out file.cpuprofile] [--roles api,...]
 *
 * Own schema and Redis prefix (dropped at the end); orchestrator on 127.0.0.1:18133, DNS :16133.
 */
import 'reflect-metadata';
import { ChildProcess, spawn } from 'node:child_process';
import http from 'node:http';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { ChildOrchestrator, spawnOrchestrator } from './lib/child-orchestrator';
import { apiClient, benchEnv, pin, progress, runBench, sleep } from './lib/common';
import { FrameGroup, summariseProfile } from './lib/cpu-profile';
import type { ProbeReply } from './lib/probe-preload';
import { body, registerSimNodes, SimNode } from './lib/sim-nodes';

const HTTP_PORT = 18133;
const DNS_PORT = 16133;

function arg(name: string, fallback: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 && process.argv[i + 1] !== undefined ? process.argv[i + 1] : fallback;
}

function num(name: string, fallback: number, min = 0): number {
  const v = Number(arg(name, String(fallback)));
  if (!Number.isFinite(v) || v < min) {
    process.stderr.write(`--${name} needs a number >= ${min}\n`);
    process.exit(2);
  }
  return v;
}

const NODES = num('nodes', 200, 2);
const LEVELS = arg('concurrency', '64')
  .split(',')
  .map((s) => Number(s))
  .filter((n) => Number.isInteger(n) && n > 0);
const SECONDS = num('seconds', 10, 1);
const WARMUP = num('warmup', 3, 0);
const PROFILE = num('profile', 5, 0);
const PROFILE_OUT = arg('profile-out', join(tmpdir(), `heartbeat-throughput-${Date.now()}.cpuprofile`));
const ROLES = arg('roles', 'api,detector,worker,dns');
const REFERENCE_PORT = 18134;
/** Cores: the server under test (orchestrator, then the reference) on one, this load generator on another. */
const SERVER_CPU = arg('server-cpu', '1');
const LOAD_CPU = arg('load-cpu', '0');

/** Where a heartbeat's time goes (inclusive shares of the profile; groups overlap where nested). */
const GROUPS: FrameGroup[] = [
  {
    label: 'ValidationPipe (class-transformer + class-validator)',
    fn: /^transform$/,
    url: /validation\.pipe\.js$/,
  },
  { label: '  class-transformer (plainToInstance)', url: /\/class-transformer\// },
  { label: '  class-validator (validate)', url: /\/class-validator\/|\/validator\/lib\// },
  {
    label: 'AuthGuard.canActivate (sha256 of the token, cache)',
    fn: /^canActivate$/,
    url: /auth\.guard\.js$/,
  },
  {
    label: 'Nest interceptor chain + rxjs (AsyncResource.bind per interceptor)',
    url: /interceptors-consumer\.js$|\/rxjs\//,
  },
  { label: 'HeartbeatsService.receive (the handler)', fn: /^receive$/, url: /heartbeats\.service\.js$/ },
  { label: '  jsonbSafeDeep', fn: /^jsonbSafeDeep$/ },
  { label: '  HeartbeatStore.accept', fn: /^accept$/, url: /heartbeat\.store\.js$/ },
  { label: '  assignmentsFor (response)', fn: /^assignmentsFor$/ },
  {
    label: 'JSON body parsing (fastify content-type parser)',
    url: /fastify\/lib\/contentTypeParser\.js$|secure-json-parse/,
  },
  { label: 'response serialization (fastify serialize)', fn: /^serialize$/, url: /fastify\/lib\/reply\.js$/ },
  {
    label: 'socket writes (writev syscalls)',
    fn: /^(writev|writeUtf8String|writeBuffer|writeLatin1String)$/,
    url: /^$/,
  },
  {
    label: 'onRequest/onResponse hooks (request id, log context, metrics)',
    url: /orchestrator\/src\/bootstrap\.js$/,
  },
  { label: 'prom-client', url: /\/prom-client\// },
  { label: 'background: typeorm, pg, ioredis, bullmq', url: /\/(typeorm|pg|pg-protocol|ioredis|bullmq)\// },
  { label: 'garbage collector', fn: /^\(garbage collector\)$/ },
];

const round = (n: number, d = 2) => Math.round(n * 10 ** d) / 10 ** d;

function percentile(sorted: Float64Array, p: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))];
}

function post(agent: http.Agent, n: SimNode, port = HTTP_PORT): Promise<{ status: number; text?: string }> {
  const payload = body(n, Date.now());
  return new Promise((resolve) => {
    const req = http.request(
      {
        host: '127.0.0.1',
        port,
        path: '/api/v1/heartbeats',
        method: 'POST',
        agent,
        headers: {
          authorization: `Bearer ${n.token}`,
          'content-type': 'application/json',
          'content-length': Buffer.byteLength(payload),
        },
      },
      (res) => {
        const status = res.statusCode ?? 0;
        if (status === 200) {
          res.resume();
          res.on('end', () => resolve({ status }));
        } else {
          let text = '';
          res.setEncoding('utf8');
          res.on('data', (c: string) => (text += c));
          res.on('end', () => resolve({ status, text }));
        }
        res.on('error', () => resolve({ status: 0, text: 'response error' }));
      },
    );
    req.on('error', (err) => resolve({ status: 0, text: err.message }));
    req.end(payload);
  });
}

async function heartbeatCounter(url: string): Promise<number> {
  const text = await (await fetch(`${url}/metrics`)).text();
  const m = /^ha_heartbeats_total(?:\{[^}]*\})?\s+([0-9.e+]+)$/m.exec(text);
  return m ? Number(m[1]) : NaN;
}

interface Window {
  ok: number;
  errors: number;
  lat: number[];
}

/** Keeps `concurrency` heartbeat loops running until `stopAt` (performance.now ms). */
function load(
  agent: http.Agent,
  nodes: SimNode[],
  concurrency: number,
  stopAt: number,
  windowOf: (t: number) => Window | null,
  errorSamples: string[],
  port = HTTP_PORT,
): Promise<void> {
  const loops: Promise<void>[] = [];
  for (let w = 0; w < concurrency; w++) {
    // Loop w owns nodes w, w+c, w+2c, …: one node's heartbeats never overtake each other.
    const mine = nodes.filter((_, i) => i % concurrency === w);
    if (mine.length === 0) continue;
    loops.push(
      (async () => {
        for (let j = 0; performance.now() < stopAt; j++) {
          const n = mine[j % mine.length];
          const t0 = performance.now();
          const r = await post(agent, n, port);
          const t1 = performance.now();
          const win = windowOf(t1);
          if (!win) continue;
          if (r.status === 200) {
            win.ok += 1;
            win.lat.push(t1 - t0);
          } else {
            win.errors += 1;
            if (errorSamples.length < 5) errorSamples.push(`${r.status} ${r.text?.slice(0, 300)}`);
          }
        }
      })(),
    );
  }
  return Promise.all(loops).then(() => undefined);
}

let orchestrator: ChildOrchestrator | null = null;
const env = benchEnv({
  DNS_HOST: '127.0.0.1',
  DNS_PORT: String(DNS_PORT),
  ORCHESTRATOR_ROLES: ROLES,
  LOG_LEVEL: 'warn',
});

async function main(): Promise<void> {
  if (LEVELS.length === 0) throw new Error('--concurrency needs positive integers, e.g. 64 or 8,64');
  progress(`starting the orchestrator (roles ${ROLES}) on 127.0.0.1:${HTTP_PORT}`);
  const o = (orchestrator = await spawnOrchestrator({ env: env.env, port: HTTP_PORT, probe: true }));
  pin(process.pid, LOAD_CPU);
  pin(o.child.pid!, SERVER_CPU);
  const api = apiClient(() => o.url, env.adminToken);

  progress(`registering ${NODES} nodes and ${Math.floor(NODES / 2)} scenarios`);
  const nodes = await registerSimNodes(api, o.url, NODES);

  const stats = () => o.probe({ op: 'stats' });
  const levels: unknown[] = [];
  let profile: unknown = null;
  const errorSamples: string[] = [];
  for (const [li, concurrency] of LEVELS.entries()) {
    const last = li === LEVELS.length - 1;
    const agent = new http.Agent({ keepAlive: true, maxSockets: concurrency });
    const t0 = performance.now();
    const measureFrom = t0 + WARMUP * 1000;
    const measureTo = measureFrom + SECONDS * 1000;
    const profileTo = last && PROFILE > 0 ? measureTo + PROFILE * 1000 : measureTo;
    const measured: Window = { ok: 0, errors: 0, lat: [] };
    const profiled: Window = { ok: 0, errors: 0, lat: [] };
    const windowOf = (t: number) =>
      t >= measureFrom && t < measureTo ? measured : t >= measureTo && t < profileTo ? profiled : null;
    progress(
      `concurrency ${concurrency}: warm-up ${WARMUP} s, measuring ${SECONDS} s` +
        (profileTo > measureTo ? `, then profiling ${PROFILE} s` : ''),
    );
    const running = load(agent, nodes, concurrency, profileTo, windowOf, errorSamples);

    await sleep(measureFrom - performance.now());
    const [s0, c0, m0] = await Promise.all([
      stats(),
      Promise.resolve(process.cpuUsage()),
      heartbeatCounter(o.url),
    ]);
    const g0 = performance.now();
    await sleep(measureTo - performance.now());
    const [s1, c1, m1] = await Promise.all([
      stats(),
      Promise.resolve(process.cpuUsage()),
      heartbeatCounter(o.url),
    ]);
    const g1 = performance.now();
    if (profileTo > measureTo) {
      const started = await o.probe({ op: 'profile-start', intervalUs: 500 });
      if (!started.ok) throw new Error(`profiler: ${started.error}`);
      await sleep(profileTo - performance.now());
      const stopped = await o.probe({ op: 'profile-stop', file: PROFILE_OUT });
      if (!stopped.ok) throw new Error(`profiler: ${stopped.error}`);
    }
    await running;
    agent.destroy();

    const wallMs = s1.atMs! - s0.atMs!;
    const cpuPct = (a: ProbeReply, b: ProbeReply) =>
      round((100 * (b.cpu!.user - a.cpu!.user + b.cpu!.system - a.cpu!.system)) / 1000 / wallMs, 1);
    const elu = (a: ProbeReply, b: ProbeReply) => {
      const active = b.elu!.active - a.elu!.active;
      return round(active / (active + b.elu!.idle - a.elu!.idle), 3);
    };
    const lat = Float64Array.from(measured.lat).sort();
    const result = {
      concurrency,
      seconds: SECONDS,
      acceptedPerSecond: Math.round(measured.ok / SECONDS),
      serverCountedPerSecond: Math.round(((m1 - m0) * 1000) / wallMs),
      errors: measured.errors,
      latencyMs: {
        p50: round(percentile(lat, 50)),
        p90: round(percentile(lat, 90)),
        p99: round(percentile(lat, 99)),
        max: round(lat[lat.length - 1] ?? NaN),
        mean: round(measured.lat.reduce((a, b) => a + b, 0) / (measured.lat.length || 1)),
      },
      orchestrator: {
        cpuPctOfOneCore: cpuPct(s0, s1),
        eventLoopUtilization: elu(s0, s1),
        rssMB: Math.round(s1.rssBytes! / 2 ** 20),
        heapUsedMB: Math.round(s1.heapUsedBytes! / 2 ** 20),
      },
      loadGeneratorCpuPctOfOneCore: round(
        (100 * (c1.user - c0.user + c1.system - c0.system)) / 1000 / (g1 - g0),
        1,
      ),
      ...(profileTo > measureTo
        ? {
            whileProfiling: {
              acceptedPerSecond: Math.round(profiled.ok / PROFILE),
              errors: profiled.errors,
            },
          }
        : {}),
    };
    progress(
      `  ${result.acceptedPerSecond}/s accepted, p50 ${result.latencyMs.p50} ms, p99 ${result.latencyMs.p99} ms, ` +
        `errors ${result.errors}, orchestrator CPU ${result.orchestrator.cpuPctOfOneCore}% ` +
        `(event loop ${Math.round(result.orchestrator.eventLoopUtilization * 100)}% busy), ` +
        `generator CPU ${result.loadGeneratorCpuPctOfOneCore}%`,
    );
    levels.push(result);
    if (profileTo > measureTo) profile = { file: PROFILE_OUT, ...summariseProfile(PROFILE_OUT, 30, GROUPS) };
  }

  // The reference on the same core, the same load (tokens are ignored there), the same levels.
  await orchestrator.stop('SIGTERM').catch(() => undefined);
  orchestrator = null;
  const reference = spawn(
    process.execPath,
    [join(__dirname, 'lib/fastify-reference.js'), String(REFERENCE_PORT)],
    {
      stdio: ['ignore', 'pipe', 'inherit'],
    },
  );
  referenceChild = reference;
  await new Promise<void>((resolve, reject) => {
    reference.stdout!.once('data', () => resolve());
    reference.once('exit', (code) => reject(new Error(`reference exited ${code}`)));
  });
  pin(reference.pid!, SERVER_CPU);
  const referenceLevels: { concurrency: number; acceptedPerSecond: number; p99: number; errors: number }[] =
    [];
  for (const concurrency of LEVELS) {
    const agent = new http.Agent({ keepAlive: true, maxSockets: concurrency });
    const t0 = performance.now();
    const from = t0 + WARMUP * 1000;
    const to = from + SECONDS * 1000;
    const w: Window = { ok: 0, errors: 0, lat: [] };
    progress(`reference (bare Fastify), concurrency ${concurrency}: measuring ${SECONDS} s`);
    await load(
      agent,
      nodes,
      concurrency,
      to,
      (t) => (t >= from && t < to ? w : null),
      errorSamples,
      REFERENCE_PORT,
    );
    agent.destroy();
    const lat = Float64Array.from(w.lat).sort();
    referenceLevels.push({
      concurrency,
      acceptedPerSecond: Math.round(w.ok / SECONDS),
      p99: round(percentile(lat, 99)),
      errors: w.errors,
    });
    progress(`  reference ${referenceLevels[referenceLevels.length - 1].acceptedPerSecond}/s`);
  }
  reference.kill('SIGKILL');
  referenceChild = null;
  const ratios = levels.map((l, i) => {
    const ours = (l as { acceptedPerSecond: number }).acceptedPerSecond;
    return {
      concurrency: LEVELS[i],
      ours,
      reference: referenceLevels[i].acceptedPerSecond,
      ratio: round(ours / referenceLevels[i].acceptedPerSecond, 3),
    };
  });
  for (const r of ratios)
    progress(`concurrency ${r.concurrency}: ${r.ours}/s vs bare Fastify ${r.reference}/s → ${r.ratio}×`);

  console.log(
    JSON.stringify(
      {
        bench: 'heartbeat-throughput',
        pinned: { server: SERVER_CPU, loadGenerator: LOAD_CPU },
        reference: referenceLevels,
        ratios,
        date: new Date().toISOString(),
        machine: { cpus: cpus().length, model: cpus()[0]?.model, node: process.version },
        nodes: NODES,
        scenarios: Math.floor(NODES / 2),
        roles: ROLES,
        warmupSeconds: WARMUP,
        levels,
        errorSamples,
        profile,
      },
      null,
      2,
    ),
  );
}

let referenceChild: ChildProcess | null = null;

runBench(main, async () => {
  referenceChild?.kill('SIGKILL');
  await orchestrator?.stop('SIGTERM').catch(() => undefined);
  await env.cleanup();
});
