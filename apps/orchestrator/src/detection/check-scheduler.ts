/**
 * One scheduler for every network check (no timer or cron per check): a min-heap of due times,
 * one timer that wakes for the earliest, and a concurrency bound so a burst of slow targets
 * cannot exhaust sockets or starve the event loop.
 *
 * Hot-path notes (see bench/checks-throughput.ts): the ready queue is a head-indexed array (no
 * O(n) shift per run) and the timer is re-armed only when a new entry is due before the one it
 * waits for, so thousands of completions per second do not each cost a clearTimeout/setTimeout.
 */
import { createLogger } from '../common/logger';

const log = createLogger('CheckScheduler');

/** Default bound on checks in flight; a tcp/http check holds one socket while it runs. */
export const DEFAULT_CHECK_CONCURRENCY = 512;

export interface ScheduledJob {
  key: string;
  intervalMs: number;
  /** `dueAt` is when this run was scheduled (ms since epoch); now − dueAt is the scheduling lag. */
  run(dueAt: number): Promise<void>;
}

interface Entry {
  due: number;
  key: string;
  generation: number;
}

export class CheckScheduler {
  private heap: Entry[] = [];
  private jobs = new Map<string, { job: ScheduledJob; generation: number }>();
  private ready: Entry[] = [];
  private readyHead = 0;
  private running = 0;
  private timer: NodeJS.Timeout | null = null;
  private armedFor = Infinity;
  private stopped = false;
  /** Runs finished since start (ok or not). */
  completed = 0;

  constructor(readonly concurrency = DEFAULT_CHECK_CONCURRENCY) {}

  /** Add or replace a job; it first runs after a random fraction of its interval (spreads load). */
  upsert(job: ScheduledJob, now = Date.now()): void {
    const prev = this.jobs.get(job.key);
    if (prev && prev.job.intervalMs === job.intervalMs) {
      prev.job = job;
      return;
    }
    const generation = (prev?.generation ?? 0) + 1;
    this.jobs.set(job.key, { job, generation });
    this.push({ due: now + Math.floor(Math.random() * job.intervalMs), key: job.key, generation });
  }

  remove(key: string): void {
    this.jobs.delete(key);
  }

  has(key: string): boolean {
    return this.jobs.has(key);
  }

  keys(): string[] {
    return [...this.jobs.keys()];
  }

  stop(): void {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    this.ready = [];
    this.readyHead = 0;
  }

  get size(): number {
    return this.jobs.size;
  }

  /** Runs in flight now. */
  get inFlight(): number {
    return this.running;
  }

  /** Runs that are due but wait for a free slot. */
  get backlog(): number {
    return this.ready.length - this.readyHead;
  }

  private isCurrent(e: Entry): ScheduledJob | undefined {
    const current = this.jobs.get(e.key);
    return current && current.generation === e.generation ? current.job : undefined;
  }

  private arm(): void {
    if (this.stopped || this.heap.length === 0) return;
    const due = this.heap[0].due;
    if (this.timer && due >= this.armedFor) return; // the armed timer fires first anyway
    if (this.timer) clearTimeout(this.timer);
    // Wake at least once a second so a clock jump never leaves checks waiting for long.
    const delay = Math.min(Math.max(0, due - Date.now()), 1000);
    this.armedFor = Date.now() + delay;
    this.timer = setTimeout(() => this.tick(), delay);
    this.timer.unref();
  }

  private tick(): void {
    this.timer = null;
    this.armedFor = Infinity;
    if (this.stopped) return;
    const now = Date.now();
    while (this.heap.length > 0 && this.heap[0].due <= now) {
      const e = this.pop()!;
      if (this.isCurrent(e)) this.ready.push(e); // else removed or rescheduled
    }
    this.drain();
    this.arm();
  }

  private drain(): void {
    while (this.running < this.concurrency && this.readyHead < this.ready.length) {
      const e = this.ready[this.readyHead++];
      const job = this.isCurrent(e);
      if (!job) continue;
      this.running++;
      let run: Promise<void>;
      try {
        run = job.run(e.due);
      } catch (err) {
        run = Promise.reject(err as Error);
      }
      run
        .catch((err: Error) => log.warn({ err: err.message, check: e.key }, 'check run failed'))
        .finally(() => this.finished(e));
    }
    if (this.readyHead === this.ready.length) {
      this.ready = [];
      this.readyHead = 0;
    } else if (this.readyHead > 1024 && this.readyHead * 2 > this.ready.length) {
      this.ready = this.ready.slice(this.readyHead);
      this.readyHead = 0;
    }
  }

  private finished(e: Entry): void {
    this.running--;
    this.completed++;
    if (this.stopped) return;
    const job = this.isCurrent(e);
    if (job) {
      // Next run one interval after this one was due (no drift), but never in the past.
      this.push({ due: Math.max(e.due + job.intervalMs, Date.now()), key: e.key, generation: e.generation });
    }
    this.drain();
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
    this.arm();
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
