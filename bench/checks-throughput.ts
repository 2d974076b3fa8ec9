/**
 * Throughput of the network-check path: the real CheckScheduler driving the real runProbe with N tcp
 * checks against local listeners, for a fixed time; prints one JSON line of figures.
 *
 * The listeners run in a child process, so the figures are the prober's own cost (in production the
 * targets are other machines); both still share this machine's cores.
 *
 *   npm run build && node dist/bench/checks-throughput.js [--checks 4000] [--interval 1000]
 *     [--seconds 10] [--listeners 16] [--concurrency 512] [--timeout 1000]
 *
 * checksPerSecond counts runs finished inside the measuring window (after one interval of warm-up,
 * while the random first-run spread settles); latency is connect-and-close time of one check;
 * scheduledLag is how late a run started after it was due (queueing behind the concurrency bound
 * and event-loop delay).
 */
import { fork } from 'node:child_process';
import net from 'node:net';
import { monitorEventLoopDelay, performance } from 'node:perf_hooks';
import {
  CheckScheduler,
  DEFAULT_CHECK_CONCURRENCY,
} from '../apps/orchestrator/src/detection/check-scheduler';
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

async function main(): Promise<void> {
  const checks = arg('checks', 4000);
  const intervalMs = arg('interval', 1000);
  const seconds = arg('seconds', 10);
  const listeners = arg('listeners', 16);
  const concurrency = arg('concurrency', DEFAULT_CHECK_CONCURRENCY);
  const timeoutMs = arg('timeout', 1000);

  const child = fork(__filename, ['--serve', String(listeners)], {
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  const ports = await new Promise<number[]>((resolve, reject) => {
    child.once('message', (m) => resolve((m as { ports: number[] }).ports));
    child.once('exit', (code) => reject(new Error(`listener process exited ${code}`)));
  });

  const scheduler = new CheckScheduler(concurrency);
  const measureFrom = Date.now() + intervalMs;
  const measureTo = measureFrom + seconds * 1000;
  const latencies: number[] = [];
  const lags: number[] = [];
  const statuses: Record<string, number> = {};
  let maxInFlight = 0;
  let maxBacklog = 0;

  for (let i = 0; i < checks; i++) {
    const check: ScenarioCheck = {
      name: `tcp-${i}`,
      kind: 'tcp',
      intervalMs,
      timeoutMs,
      failureThreshold: 3,
      recoveryThreshold: 2,
      port: ports[i % ports.length],
    };
    scheduler.upsert({
      key: check.name,
      intervalMs,
      run: async (dueAt) => {
        const startedAt = Date.now();
        const t0 = performance.now();
        const r = await runProbe(check, { address: '127.0.0.1' });
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
  setTimeout(() => loop.enable(), intervalMs);
  await new Promise((r) => setTimeout(r, measureTo - Date.now() + timeoutMs + 200));
  loop.disable();
  scheduler.stop();
  child.disconnect();

  const lat = Float64Array.from(latencies).sort();
  const lag = Float64Array.from(lags).sort();
  const out = {
    checks,
    intervalMs,
    seconds,
    targetChecksPerSecond: round((checks * 1000) / intervalMs),
    checksPerSecond: round(latencies.length / seconds),
    p50LatencyMs: round(percentile(lat, 50)),
    p99LatencyMs: round(percentile(lat, 99)),
    scheduledLagP50Ms: round(percentile(lag, 50)),
    scheduledLagP99Ms: round(percentile(lag, 99)),
    eventLoopDelayP99Ms: round(loop.percentile(99) / 1e6),
    concurrency,
    maxInFlight,
    maxBacklog,
    statuses,
    listeners,
  };
  process.stdout.write(`${JSON.stringify(out)}\n`);
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
