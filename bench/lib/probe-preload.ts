/**
 * Preloaded (`node --require dist/bench/lib/probe-preload.js …/main.js`) into an orchestrator child
 * process by a benchmark; production code is untouched. Over the IPC channel it answers:
 *   { op: 'stats' }                       → process.cpuUsage(), event-loop utilization, memory
 *   { op: 'profile-start', intervalUs }   → starts the V8 sampling profiler (node:inspector, in-process)
 *   { op: 'profile-stop', file }          → stops it and writes the .cpuprofile to `file`
 * so the measuring window alone is profiled, not start-up (which `node --cpu-prof` would include,
 * and it only writes its profile on a clean exit).
 */
import { writeFileSync } from 'node:fs';
import { Session } from 'node:inspector';
import { monitorEventLoopDelay, performance } from 'node:perf_hooks';

export interface ProbeRequest {
  id: number;
  op: 'stats' | 'profile-start' | 'profile-stop';
  intervalUs?: number;
  file?: string;
}

export interface ProbeReply {
  id: number;
  ok: boolean;
  error?: string;
  /** µs of CPU since process start */
  cpu?: { user: number; system: number };
  /** ms, cumulative since start */
  elu?: { idle: number; active: number };
  rssBytes?: number;
  heapUsedBytes?: number;
  /** process.hrtime in ms when the stats were taken */
  atMs?: number;
  /** event-loop delay since the previous stats (ms): how long ready work waited for the loop */
  loopDelayMs?: { p50: number; p99: number; max: number };
}

if (process.send) {
  const loop = monitorEventLoopDelay({ resolution: 5 });
  loop.enable();
  let session: Session | null = null;
  const post = <T>(method: string, params?: object) =>
    new Promise<T>((resolve, reject) =>
      session!.post(method, params ?? {}, (err, res) => (err ? reject(err) : resolve(res as T))),
    );
  const reply = (r: ProbeReply) => process.send!(r);
  process.on('message', (m: ProbeRequest) => {
    if (!m || typeof m.id !== 'number') return;
    void (async () => {
      try {
        if (m.op === 'stats') {
          const elu = performance.eventLoopUtilization();
          const mem = process.memoryUsage();
          reply({
            id: m.id,
            ok: true,
            cpu: process.cpuUsage(),
            elu: { idle: elu.idle, active: elu.active },
            rssBytes: mem.rss,
            heapUsedBytes: mem.heapUsed,
            atMs: Number(process.hrtime.bigint()) / 1e6,
            loopDelayMs: {
              p50: loop.percentile(50) / 1e6,
              p99: loop.percentile(99) / 1e6,
              max: loop.max / 1e6,
            },
          });
          loop.reset();
        } else if (m.op === 'profile-start') {
          session = new Session();
          session.connect();
          await post('Profiler.enable');
          await post('Profiler.setSamplingInterval', { interval: m.intervalUs ?? 1000 });
          await post('Profiler.start');
          reply({ id: m.id, ok: true });
        } else if (m.op === 'profile-stop') {
          const { profile } = await post<{ profile: unknown }>('Profiler.stop');
          session!.disconnect();
          session = null;
          writeFileSync(m.file!, JSON.stringify(profile));
          reply({ id: m.id, ok: true });
        }
      } catch (err) {
        reply({ id: m.id, ok: false, error: (err as Error).message });
      }
    })();
  });
  // The IPC channel must not keep the orchestrator alive after its own shutdown.
  process.channel?.unref();
}
