/**
 * One scheduler for every network check (no timer or cron per check): a min-heap of due times,
 * one timer that wakes for the earliest, and a concurrency bound so a burst of slow targets
 * cannot exhaust sockets or starve the event loop.
 */
import { createLogger } from '../common/logger';

const log = createLogger('CheckScheduler');

export interface ScheduledJob {
  key: string;
  intervalMs: number;
  run(): Promise<void>;
}

interface Entry {
  due: number;
  job: ScheduledJob;
  generation: number;
}

export class CheckScheduler {
  private heap: Entry[] = [];
  private jobs = new Map<string, { job: ScheduledJob; generation: number }>();
  private running = 0;
  private timer: NodeJS.Timeout | null = null;
  private stopped = false;
  private queued: Entry[] = [];
  completed = 0;

  constructor(private readonly concurrency = 256) {}

  /** Add or replace a job; it first runs after a random fraction of its interval (spreads load). */
  upsert(job: ScheduledJob, now = Date.now()): void {
    const prev = this.jobs.get(job.key);
    if (prev && prev.job.intervalMs === job.intervalMs) {
      prev.job = job;
      return;
    }
    const generation = (prev?.generation ?? 0) + 1;
    this.jobs.set(job.key, { job, generation });
    this.push({ due: now + Math.floor(Math.random() * job.intervalMs), job, generation });
    this.arm();
  }

  remove(key: string): void {
    this.jobs.delete(key);
  }

  keys(): string[] {
    return [...this.jobs.keys()];
  }

  stop(): void {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
  }

  get size(): number {
    return this.jobs.size;
  }

  private arm(): void {
    if (this.stopped) return;
    if (this.timer) clearTimeout(this.timer);
    if (this.heap.length === 0) return;
    const delay = Math.max(0, this.heap[0].due - Date.now());
    this.timer = setTimeout(() => this.tick(), Math.min(delay, 1000));
    this.timer.unref();
  }

  private tick(): void {
    const now = Date.now();
    while (this.heap.length > 0 && this.heap[0].due <= now) {
      const e = this.pop()!;
      const current = this.jobs.get(e.job.key);
      if (!current || current.generation !== e.generation) continue; // removed or rescheduled
      this.queued.push({ ...e, job: current.job });
    }
    this.drain();
    this.arm();
  }

  private drain(): void {
    while (this.running < this.concurrency && this.queued.length > 0) {
      const e = this.queued.shift()!;
      this.running++;
      e.job
        .run()
        .catch((err: Error) => log.warn({ err: err.message, check: e.job.key }, 'check run failed'))
        .finally(() => {
          this.running--;
          this.completed++;
          const current = this.jobs.get(e.job.key);
          if (current && current.generation === e.generation && !this.stopped) {
            // Next run one interval after this one was due (no drift), but never in the past.
            this.push({ due: Math.max(e.due + e.job.intervalMs, Date.now()), job: current.job, generation: e.generation });
            this.arm();
          }
          this.drain();
        });
    }
  }

  private push(e: Entry): void {
    const h = this.heap;
    h.push(e);
    let i = h.length - 1;
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (h[p].due <= h[i].due) break;
      [h[p], h[i]] = [h[i], h[p]];
      i = p;
    }
  }

  private pop(): Entry | undefined {
    const h = this.heap;
    if (h.length === 0) return undefined;
    const top = h[0];
    const last = h.pop()!;
    if (h.length > 0) {
      h[0] = last;
      let i = 0;
      for (;;) {
        const l = 2 * i + 1;
        const r = l + 1;
        let m = i;
        if (l < h.length && h[l].due < h[m].due) m = l;
        if (r < h.length && h[r].due < h[m].due) m = r;
        if (m === i) break;
        [h[m], h[i]] = [h[i], h[m]];
        i = m;
      }
    }
    return top;
  }
}
