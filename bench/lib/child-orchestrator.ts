/**
 * The built orchestrator (dist/apps/orchestrator/src/main.js) as a real child process, like
 * test/support/orchestrator.ts does for the e2e tests: waits for /health/ready, keeps its log lines,
 * and is SIGKILLed when this process exits however it exits. Optionally preloads probe-preload.js
 * (CPU, event-loop utilization and CPU profiles over IPC; see there).
 */
import { ChildProcess, spawn } from 'node:child_process';
import { join } from 'node:path';
import { REPO_ROOT } from '../../libs/testing/src/agent-harness';
import { sleep } from './common';
import type { ProbeReply, ProbeRequest } from './probe-preload';

export const ORCHESTRATOR_MAIN = join(REPO_ROOT, 'dist/apps/orchestrator/src/main.js');
const PROBE_PRELOAD = join(__dirname, 'probe-preload.js');

const children = new Set<ChildProcess>();
process.on('exit', () => {
  for (const c of children) c.kill('SIGKILL');
});

export interface SpawnOptions {
  env: Record<string, string>;
  port: number;
  host?: string;
  /** preload probe-preload.js and open an IPC channel for probe() */
  probe?: boolean;
  /** extra node flags */
  nodeArgs?: string[];
  readyTimeoutMs?: number;
  /** log lines kept (oldest dropped) */
  keepLines?: number;
}

export class ChildOrchestrator {
  readonly lines: string[] = [];
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  private buffer = '';
  private seq = 0;
  private readonly pending = new Map<number, (r: ProbeReply) => void>();

  constructor(
    readonly child: ChildProcess,
    readonly url: string,
    readonly port: number,
    private readonly keepLines: number,
  ) {
    const onData = (chunk: string) => {
      this.buffer += chunk;
      const parts = this.buffer.split('\n');
      this.buffer = parts.pop() ?? '';
      for (const l of parts) if (l) this.lines.push(l);
      if (this.lines.length > this.keepLines) this.lines.splice(0, this.lines.length - this.keepLines);
    };
    child.stdout!.setEncoding('utf8').on('data', onData);
    child.stderr!.setEncoding('utf8').on('data', onData);
    child.on('message', (m: ProbeReply) => {
      const resolve = this.pending.get(m.id);
      this.pending.delete(m.id);
      resolve?.(m);
    });
    this.exited = new Promise((resolve) =>
      child.once('exit', (code, signal) => {
        children.delete(child);
        resolve({ code, signal });
      }),
    );
  }

  get pid(): number {
    return this.child.pid!;
  }

  get running(): boolean {
    return this.child.exitCode === null && this.child.signalCode === null;
  }

  /** Parsed JSON log lines (pino). */
  logs(): Record<string, unknown>[] {
    return this.lines.flatMap((l) => {
      try {
        return [JSON.parse(l) as Record<string, unknown>];
      } catch {
        return [];
      }
    });
  }

  probe(req: Omit<ProbeRequest, 'id'>): Promise<ProbeReply> {
    const id = ++this.seq;
    return new Promise((resolve, reject) => {
      this.pending.set(id, resolve);
      this.child.send({ ...req, id }, (err) => {
        if (err) {
          this.pending.delete(id);
          reject(err);
        }
      });
    });
  }

  /** Sends `signal` (SIGKILL after 10 s) and waits for the exit. */
  async stop(signal: NodeJS.Signals = 'SIGTERM'): Promise<void> {
    if (!this.running) return;
    const t = setTimeout(() => this.child.kill('SIGKILL'), 10000);
    this.child.kill(signal);
    await this.exited;
    clearTimeout(t);
  }
}

export async function spawnOrchestrator(opts: SpawnOptions): Promise<ChildOrchestrator> {
  const host = opts.host ?? '127.0.0.1';
  // A concurrent build of someone else may leave dist without its path aliases for a moment.
  for (let attempt = 1; ; attempt++) {
    const args = [
      ...(opts.nodeArgs ?? []),
      ...(opts.probe ? ['--require', PROBE_PRELOAD] : []),
      ORCHESTRATOR_MAIN,
    ];
    const child = spawn(process.execPath, args, {
      env: {
        ...process.env,
        ...opts.env,
        HTTP_HOST: host,
        HTTP_PORT: String(opts.port),
      },
      stdio: opts.probe ? ['ignore', 'pipe', 'pipe', 'ipc'] : ['ignore', 'pipe', 'pipe'],
    });
    children.add(child);
    const o = new ChildOrchestrator(child, `http://${host}:${opts.port}`, opts.port, opts.keepLines ?? 5000);
    try {
      await waitReady(o, opts.readyTimeoutMs ?? 30000);
      return o;
    } catch (err) {
      await o.stop('SIGKILL');
      const log = o.lines.join('\n');
      if (attempt < 3 && log.includes("Cannot find module '@ha/")) {
        await sleep(2000);
        continue;
      }
      throw err;
    }
  }
}

async function waitReady(o: ChildOrchestrator, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (!o.running) {
      throw new Error(`orchestrator exited at start: ${o.lines.join('\n').slice(-2000)}`);
    }
    try {
      const r = await fetch(`${o.url}/health/ready`, { signal: AbortSignal.timeout(1000) });
      if (r.status === 200) return;
    } catch {
      /* not listening yet */
    }
    if (Date.now() > deadline) {
      throw new Error(`orchestrator did not become ready: ${o.lines.join('\n').slice(-2000)}`);
    }
    await sleep(100);
  }
}
