/**
 * Throughput of the network-check path: the real CheckScheduler driving the real runProbe with N tcp
 * checks against local listeners, for a fixed time; prints one JSON line of figures.
 *
 * The listeners run in a child process, so the figures are the prober's own cost (in production the
 * targets are other machines); both still share this machine's cores.
 *
 *   npm run build && node dist/bench/checks-throughput.js [--checks 4000] [--interval 1000]
 *     [--seconds 10] [--listeners 16] [--concurrency 512] [--timeout 1000] [--kind tcp|ping]
 *
 * --kind ping: N ping checks against loopback addresses 127.0.3.1–127.0.3.250, run twice with the
 * same load: one `ping` process per probe (the ping package), then batched through fping (the
 * detector's default when fping is installed, PING_MODE=auto); each run reports its CPU (this
 * process and its reaped children, from /proc/self/stat) per check, and the ratio of the two.
 *
 * checksPerSecond counts runs finished inside the measuring window (after one interval of warm-up,
 * while the random first-run spread settles); latency is connect-and-close time of one check;
 * scheduledLag is how late a run started after it was due (queueing behind the concurrency bound
 * and event-loop delay).
 */
import { fork } from 'node:child_process';
import { readFileSync } from 'node:fs';
import net from 'node:net';
import { monitorEventLoopDelay, performance } from 'node:perf_hooks';
import {
  CheckScheduler,
  DEFAULT_CHECK_CONCURRENCY,
} from '../apps/orchestrator/src/detection/check-scheduler';
import { findFping, FpingBatcher, Pinger } from '../apps/orchestrator/src/detection/ping-batch';
import { runProbe } from '../apps/orchestrator/src/detection/probes';
import { ScenarioCheck } from '../apps/orchestrator/src/scenarios/scenario.types';

function arg(name: string, fallback: number): number {
  const i = process.argv.indexOf(`--${name}`);
  if (i < 0) return fallback;
  const v = Number(process.argv[i + 1]);
  if (!Number.isFinite(v) || v <= 0) {
    process.stderr.write(`--${name} needs a positive number\n`);
    process.exit(2);
  }
  return v;
}

function textArg(name: string, fallback: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 && process.argv[i + 1] !== undefined ? process.argv[i + 1] : fallback;
}

/** CPU seconds of this process and of its children it has waited for (ping / fping processes). */
function cpuSeconds(): number {
  const f = readFileSync('/proc/self/stat', 'utf8');
  const fields = f.slice(f.lastIndexOf(')') + 2).split(' ');
  // fields[0] is field 3 (state): utime 14, stime 15, cutime 16, cstime 17
  const ticks = [11, 12, 13, 14].reduce((sum, i) => sum + Number(fields[i]), 0);
  return ticks / 100;
}

function percentile(sorted: Float64Array, p: number): number {
  if (sorted.length === 0) return 0;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];
}

const round = (n: number) => Math.round(n * 100) / 100;

/** Child mode: open the listeners, print their ports, live until the parent goes away. */
async function serve(count: number): Promise<void> {
  const ports: number[] = [];
  for (let i = 0; i < count; i++) {
    const server = net.createServer((socket) => {
      socket.on('error', () => undefined);
      socket.resume();
    });
    await new Promise<void>((resolve) =>
      server.listen({ host: '127.0.0.1', port: 0, backlog: 4096 }, resolve),
    );
    ports.push((server.address() as net.AddressInfo).port);
  }
  process.send!({ ports });
  process.on('disconnect', () => process.exit(0));
}

interface RunOptions {
  kind: 'tcp' | 'ping';
  checks: number;
  intervalMs: number;
  seconds: number;
  concurrency: number;
  timeoutMs: number;
  ports: number[];
  pinger: Pinger | null;
}

async function measure(o: RunOptions): Promise<Record<string, unknown>> {
  const scheduler = new CheckScheduler(o.concurrency);
  const measureFrom = Date.now() + o.intervalMs;
  const measureTo = measureFrom + o.seconds * 1000;
  const latencies: number[] = [];
  const lags: number[] = [];
  const statuses: Record<string, number> = {};
  let maxInFlight = 0;
  let maxBacklog = 0;

  for (let i = 0; i < o.checks; i++) {
    const check: ScenarioCheck = {
      name: `${o.kind}-${i}`,
      kind: o.kind,
      intervalMs: o.intervalMs,
      timeoutMs: o.timeoutMs,
      failureThreshold: 3,
      recoveryThreshold: 2,
      ...(o.kind === 'tcp' && { port: o.ports[i % o.ports.length] }),
    };
    const address = o.kind === 'tcp' ? '127.0.0.1' : `127.0.3.${(i % 250) + 1}`;
    scheduler.upsert({
      key: check.name,
      intervalMs: o.intervalMs,
      run: async (dueAt) => {
        const startedAt = Date.now();
        const t0 = performance.now();
        const r = await runProbe(check, { address }, { pinger: o.pinger });
        const latency = performance.now() - t0;
        maxInFlight = Math.max(maxInFlight, scheduler.inFlight);
        maxBacklog = Math.max(maxBacklog, scheduler.backlog);
        if (startedAt >= measureFrom && startedAt < measureTo) {
          latencies.push(latency);
          lags.push(startedAt - dueAt);
          statuses[r.status] = (statuses[r.status] ?? 0) + 1;
        }
      },
    });
  }

  const loop = monitorEventLoopDelay({ resolution: 10 });
  let cpuFrom = 0;
  setTimeout(() => {
    loop.enable();
    cpuFrom = cpuSeconds();
  }, o.intervalMs);
  await new Promise((r) => setTimeout(r, measureTo - Date.now()));
  const cpu = cpuSeconds() - cpuFrom;
  await new Promise((r) => setTimeout(r, o.timeoutMs + 1200));
  loop.disable();
  scheduler.stop();

  const lat = Float64Array.from(latencies).sort();
  const lag = Float64Array.from(lags).sort();
  return {
    kind: o.kind,
    ...(o.kind === 'ping' && { path: o.pinger ? 'fping (batched)' : 'ping (one process per probe)' }),
    checks: o.checks,
    intervalMs: o.intervalMs,
    seconds: o.seconds,
    targetChecksPerSecond: round((o.checks * 1000) / o.intervalMs),
    checksPerSecond: round(latencies.length / o.seconds),
    p50LatencyMs: round(percentile(lat, 50)),
    p99LatencyMs: round(percentile(lat, 99)),
    scheduledLagP50Ms: round(percentile(lag, 50)),
    scheduledLagP99Ms: round(percentile(lag, 99)),
    eventLoopDelayP99Ms: round(loop.percentile(99) / 1e6),
    cpuPctOfOneCore: round((cpu / o.seconds) * 100),
    cpuMsPerCheck: latencies.length ? round((cpu * 1000) / latencies.length) : null,
    ...(o.pinger instanceof FpingBatcher && { fpingProcesses: o.pinger.spawned }),
    concurrency: o.concurrency,
    maxInFlight,
    maxBacklog,
    statuses,
  };
}

async function main(): Promise<void> {
  const kind = textArg('kind', 'tcp');
  if (kind !== 'tcp' && kind !== 'ping') {
    process.stderr.write('--kind is tcp or ping\n');
    process.exit(2);
  }
  const base = {
    kind: kind as 'tcp' | 'ping',
    checks: arg('checks', 4000),
    intervalMs: arg('interval', 1000),
    seconds: arg('seconds', 10),
    concurrency: arg('concurrency', DEFAULT_CHECK_CONCURRENCY),
    timeoutMs: arg('timeout', 1000),
    ports: [] as number[],
    pinger: null,
  };
  if (kind === 'ping') {
    const fping = findFping();
    if (!fping) throw new Error('fping is not installed');
    const perProcess = await measure(base);
    const batched = await measure({ ...base, pinger: new FpingBatcher(fping) });
    const ratio = (k: string) => round(Number(batched[k]) / Math.max(1e-9, Number(perProcess[k])));
    process.stdout.write(
      `${JSON.stringify({
        perProcess,
        batched,
        checksPerSecondRatio: ratio('checksPerSecond'),
        cpuPerCheckRatio: ratio('cpuMsPerCheck'),
      })}\n`,
    );
    process.exit(0);
  }
  const listeners = arg('listeners', 16);
  const child = fork(__filename, ['--serve', String(listeners)], {
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  const ports = await new Promise<number[]>((resolve, reject) => {
    child.once('message', (m) => resolve((m as { ports: number[] }).ports));
    child.once('exit', (code) => reject(new Error(`listener process exited ${code}`)));
  });
  const out = await measure({ ...base, ports });
  child.disconnect();
  process.stdout.write(`${JSON.stringify({ ...out, listeners })}\n`);
  process.exit(0);
}

if (process.argv.includes('--serve')) {
  void serve(arg('serve', 16));
} else {
  main().catch((err: Error) => {
    process.stderr.write(`${err.stack ?? err.message}\n`);
    process.exit(1);
  });
}
