/**
 * Ping checks through fping, batched: the ping probes that come due within a few milliseconds of
 * each other share one `fping` process (one echo request per target, each with the check's
 * timeout), instead of one `ping` process per probe. Spawning a process costs milliseconds of CPU;
 * at thousands of ping checks a second that, not the network, was the limit (bench/checks-throughput
 * with --kind ping measures both paths side by side).
 *
 * One request per target and batch: probes of the same address and timeout that are due together
 * share its reply. A target fping does not report on (a name it cannot resolve, fping failing or
 * killed) is unknown with what fping said about it, never critical: a broken prober must not fail
 * nodes over. When fping is not installed the caller falls back to
 * one `ping` per probe (see PING_MODE).
 */
import { spawn } from 'node:child_process';
import { accessSync, constants } from 'node:fs';
import { delimiter, join } from 'node:path';

export interface PingResult {
  /** null: fping said nothing about the target (it could not run, or failed): unknown, not down */
  alive: boolean | null;
  /** round trip of the reply, ms (alive only) */
  rttMs?: number;
  /** one line for the check's output */
  output: string;
}

export interface Pinger {
  ping(address: string, timeoutMs: number): Promise<PingResult>;
}

export interface FpingOptions {
  /** the fping binary (found on PATH by default) */
  binary?: string;
  /** how long a batch waits for more probes before fping starts */
  windowMs?: number;
  /** targets per fping process at most */
  maxTargets?: number;
  /** fping processes running at once at most; later batches wait for one to end */
  maxProcesses?: number;
}

/** Gap between two targets' echo requests in one batch (fping -i), ms. */
const SEND_INTERVAL_MS = 1;
const DEFAULT_WINDOW_MS = 10;
const DEFAULT_MAX_TARGETS = 256;
const DEFAULT_MAX_PROCESSES = 32;
/** fping ends on its own after the timeout and the sends; this is for a wedged one. */
const KILL_GRACE_MS = 2000;
/** What fping accepts as a target here: an IPv4/IPv6 literal or a host name, never an option. */
const TARGET_RE = /^[A-Za-z0-9_][A-Za-z0-9_.:%-]*$/;
const LINE_RE = /^(\S+) is (alive|unreachable)(?: \(([\d.]+) ms\))?/;

interface Waiter {
  resolve: (r: PingResult) => void;
}

interface Batch {
  timeoutMs: number;
  targets: Map<string, Waiter[]>;
  timer: NodeJS.Timeout | null;
}

/** The fping on PATH (or at `binary`), or null when there is none that can run. */
export function findFping(binary?: string): string | null {
  const candidates = binary
    ? [binary]
    : (process.env.PATH ?? '/usr/bin:/bin')
        .split(delimiter)
        .filter(Boolean)
        .map((dir) => join(dir, 'fping'));
  for (const c of candidates) {
    try {
      accessSync(c, constants.X_OK);
      return c;
    } catch {
      /* next */
    }
  }
  return null;
}

export class FpingBatcher implements Pinger {
  private readonly windowMs: number;
  private readonly maxTargets: number;
  private readonly maxProcesses: number;
  /** open batches by timeout */
  private readonly open = new Map<number, Batch>();
  private readonly queued: Batch[] = [];
  private running = 0;
  /** fping processes started (for tests and the benchmark) */
  spawned = 0;

  constructor(
    private readonly binary: string,
    opts: Omit<FpingOptions, 'binary'> = {},
  ) {
    this.windowMs = opts.windowMs ?? DEFAULT_WINDOW_MS;
    this.maxTargets = opts.maxTargets ?? DEFAULT_MAX_TARGETS;
    this.maxProcesses = opts.maxProcesses ?? DEFAULT_MAX_PROCESSES;
  }

  ping(address: string, timeoutMs: number): Promise<PingResult> {
    if (!TARGET_RE.test(address))
      return Promise.resolve({ alive: null, output: `not a ping target: ${JSON.stringify(address)}` });
    const t = Math.max(1, Math.round(timeoutMs));
    return new Promise<PingResult>((resolve) => {
      // A batch still waiting for a free process takes more targets: when every process is busy
      // (targets that never answer hold theirs for the whole timeout), probes do not queue one
      // small batch each behind them.
      const waiting = this.queued.find(
        (b) => b.timeoutMs === t && (b.targets.has(address) || b.targets.size < this.maxTargets),
      );
      if (waiting) {
        const w = waiting.targets.get(address);
        if (w) w.push({ resolve });
        else waiting.targets.set(address, [{ resolve }]);
        return;
      }
      let batch = this.open.get(t);
      if (!batch) {
        batch = { timeoutMs: t, targets: new Map(), timer: null };
        const b = batch;
        b.timer = setTimeout(() => this.close(b), this.windowMs);
        this.open.set(t, b);
      }
      const waiters = batch.targets.get(address);
      if (waiters) waiters.push({ resolve });
      else batch.targets.set(address, [{ resolve }]);
      if (batch.targets.size >= this.maxTargets) this.close(batch);
    });
  }

  private close(batch: Batch): void {
    if (batch.timer) clearTimeout(batch.timer);
    batch.timer = null;
    if (this.open.get(batch.timeoutMs) === batch) this.open.delete(batch.timeoutMs);
    this.queued.push(batch);
    this.next();
  }

  private next(): void {
    while (this.running < this.maxProcesses && this.queued.length > 0) {
      const batch = this.queued.shift()!;
      this.running++;
      this.run(batch).finally(() => {
        this.running--;
        this.next();
      });
    }
  }

  private run(batch: Batch): Promise<void> {
    const targets = [...batch.targets.keys()];
    const answered = new Map<string, PingResult>();
    const notes = new Map<string, string>();
    return new Promise<void>((done) => {
      let out = '';
      let err = '';
      const settle = (why: string | null) => {
        for (const [target, waiters] of batch.targets) {
          // Not reported on: fping could not run or use the target (a name that does not
          // resolve is reported on stderr): unknown, never a failure of the node.
          const r = answered.get(target) ?? {
            alive: null,
            output: (notes.get(target) ?? why ?? 'fping did not report on it').slice(0, 200),
          };
          for (const w of waiters) w.resolve(r);
        }
        done();
      };
      this.spawned++;
      const child = spawn(
        this.binary,
        ['-e', '-r', '0', '-t', String(batch.timeoutMs), '-i', String(SEND_INTERVAL_MS), '--', ...targets],
        { stdio: ['ignore', 'pipe', 'pipe'] },
      );
      const killer = setTimeout(
        () => child.kill('SIGKILL'),
        batch.timeoutMs + targets.length * SEND_INTERVAL_MS + KILL_GRACE_MS,
      );
      const take = (line: string) => {
        const m = LINE_RE.exec(line);
        if (!m || !batch.targets.has(m[1])) return;
        answered.set(
          m[1],
          m[2] === 'alive'
            ? { alive: true, rttMs: Number(m[3]), output: `rtt ${m[3]} ms` }
            : { alive: false, output: 'no reply' },
        );
      };
      child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
        out += chunk;
        const lines = out.split('\n');
        out = lines.pop() ?? '';
        for (const l of lines) take(l);
      });
      child.stderr.setEncoding('utf8').on('data', (chunk: string) => {
        if (err.length < 64 * 1024) err += chunk;
      });
      child.on('error', (e) => {
        clearTimeout(killer);
        settle(`fping could not run: ${e.message}`);
      });
      child.on('close', (code, signal) => {
        clearTimeout(killer);
        if (out) take(out);
        // fping names a target it could not use at the start of its stderr line ("x: Name or
        // service not known"): that becomes the target's output.
        for (const line of err.split('\n')) {
          const i = line.indexOf(': ');
          if (i > 0 && batch.targets.has(line.slice(0, i))) notes.set(line.slice(0, i), line);
        }
        // 0: all alive, 1: some unreachable (or a usage error: then nothing was reported), 2: some
        // names unknown; anything else is fping failing.
        const failed = signal !== null || (code !== null && code > 2);
        settle(
          failed ? `fping failed (${signal ?? `exit ${code}`}): ${err.trim().split('\n')[0] ?? ''}` : null,
        );
      });
    });
  }
}
