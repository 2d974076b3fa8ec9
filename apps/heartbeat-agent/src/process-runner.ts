/**
 * Runs a configured command (never through a shell) in its own process group, with a hard timeout
 * that kills the whole group, so a script's children cannot outlive it.
 */
import { wellFormedText } from '@ha/contracts/json-limits';
import { ChildProcess, spawn } from 'node:child_process';

export interface RunSpec {
  command: string;
  args: string[];
  timeoutMs: number;
  /** Extra environment on top of the agent's own. */
  env?: Record<string, string>;
  /** stdout+stderr kept, in bytes. */
  maxOutputBytes: number;
}

export interface RunResult {
  exitCode: number | null;
  signal: NodeJS.Signals | null;
  timedOut: boolean;
  /** stdout and stderr interleaved, truncated to maxOutputBytes. */
  output: string;
  /** stdout alone, truncated to maxOutputBytes. */
  stdout: string;
  /** Set when the process could not be started (ENOENT, EACCES...). */
  spawnError?: string;
  startedAt: number;
  finishedAt: number;
  durationMs: number;
}

/** After 'exit', how long to wait for the pipes to close (a grandchild may hold them open). */
const CLOSE_GRACE_MS = 200;
/** After a SIGKILL of the group, give up waiting for 'exit' after this long. */
const KILL_GRACE_MS = 2000;

class BoundedBuffer {
  private readonly chunks: Buffer[] = [];
  private size = 0;

  constructor(private readonly limit: number) {}

  push(chunk: Buffer): void {
    if (this.size >= this.limit) return;
    const part = chunk.subarray(0, this.limit - this.size);
    this.chunks.push(part);
    this.size += part.length;
  }

  /**
   * UTF-8 decoding already turns invalid bytes into U+FFFD; NUL bytes are replaced too: script
   * output travels in heartbeats and action answers, where the receiving side refuses NUL.
   */
  toString(): string {
    return wellFormedText(Buffer.concat(this.chunks).toString('utf8'));
  }
}

export class ProcessRunner {
  private readonly running = new Set<ChildProcess>();

  run(spec: RunSpec): Promise<RunResult> {
    const startedAt = Date.now();
    const t0 = performance.now();
    const output = new BoundedBuffer(spec.maxOutputBytes);
    const stdout = new BoundedBuffer(spec.maxOutputBytes);

    return new Promise<RunResult>((resolvePromise) => {
      let child: ChildProcess;
      let settled = false;
      let timedOut = false;
      let exitCode: number | null = null;
      let signal: NodeJS.Signals | null = null;
      let spawnError: string | undefined;
      const timers: { timeout?: NodeJS.Timeout; grace?: NodeJS.Timeout } = {};

      const finish = (): void => {
        if (settled) return;
        settled = true;
        clearTimeout(timers.timeout);
        clearTimeout(timers.grace);
        if (child) this.running.delete(child);
        const finishedAt = Date.now();
        resolvePromise({
          exitCode,
          signal,
          timedOut,
          output: output.toString(),
          stdout: stdout.toString(),
          spawnError,
          startedAt,
          finishedAt,
          durationMs: Math.round(performance.now() - t0),
        });
      };

      try {
        child = spawn(spec.command, spec.args, {
          detached: true,
          shell: false,
          stdio: ['ignore', 'pipe', 'pipe'],
          env: { ...process.env, ...spec.env },
        });
      } catch (err) {
        // Invalid arguments (e.g. a NUL byte in env) throw synchronously.
        spawnError = (err as Error).message;
        finish();
        return;
      }
      this.running.add(child);

      child.stdout?.on('data', (chunk: Buffer) => {
        stdout.push(chunk);
        output.push(chunk);
      });
      child.stderr?.on('data', (chunk: Buffer) => output.push(chunk));
      child.on('error', (err: NodeJS.ErrnoException) => {
        spawnError = err.code ?? err.message;
        finish();
      });
      child.on('exit', (code, sig) => {
        exitCode = code;
        signal = sig;
        clearTimeout(timers.timeout);
        clearTimeout(timers.grace);
        timers.grace = setTimeout(finish, CLOSE_GRACE_MS);
      });
      child.on('close', finish);

      timers.timeout = setTimeout(() => {
        timedOut = true;
        killGroup(child);
        timers.grace = setTimeout(finish, KILL_GRACE_MS);
      }, spec.timeoutMs);
    });
  }

  /** Kills every process group still running (shutdown). */
  killAll(): void {
    for (const child of this.running) killGroup(child);
  }

  get runningCount(): number {
    return this.running.size;
  }
}

function killGroup(child: ChildProcess): void {
  if (child.pid === undefined) return;
  try {
    process.kill(-child.pid, 'SIGKILL');
  } catch {
    try {
      child.kill('SIGKILL');
    } catch {
      // Already gone.
    }
  }
}
