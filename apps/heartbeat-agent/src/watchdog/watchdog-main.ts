/**
 * The watchdog: a separate small process that takes the protected service down when the agent stops
 * renewing its lease: frozen (SIGSTOP, long GC, swap storm), killed, or cut off. This is what makes
 * lease-expiry fencing safe: the orchestrator promotes a replica once the old production's lease
 * has provably expired, and by then this process has killed the service, whatever the agent does.
 *
 * It works like /dev/watchdog without "magic close": the agent kicks it over a unix socket with a
 * deadline (CLOCK_MONOTONIC ms, the agent's lease expiry); when the deadline passes the watchdog
 * SIGKILLs the process group of every configured pid file and runs the configured fence command.
 * A disconnect (agent killed or restarting) keeps the deadline. A restarted agent reconnects to the
 * same watchdog; until it has real contact its kicks may only shorten the deadline, never extend it.
 *
 * Started by the agent (`node watchdog-main.js <json options>`), detached in its own process group
 * so a signal to the agent or its group never reaches it. Logs JSON lines on stderr.
 */
import { spawnSync } from 'node:child_process';
import { chmodSync, readFileSync, unlinkSync, writeFileSync } from 'node:fs';
import { Socket, connect, createServer } from 'node:net';
import { monotonicMs } from './monotonic';

export interface WatchdogProcessOptions {
  socket: string;
  pidFiles: string[];
  command?: { command: string; args: string[]; timeoutMs: number };
  signal: NodeJS.Signals;
  /** Exit after this long with no agent connected and no deadline. */
  idleExitMs: number;
}

/** Agent → watchdog. `deadline` null disarms (this node is production nowhere). */
export type WatchdogKick = { t: 'kick'; deadline: number | null; contact: boolean } | { t: 'exit' };

/** Watchdog → agent. */
export interface WatchdogAck {
  t: 'ack' | 'fired';
  pid: number;
  deadline: number | null;
  fired: number;
}

const TICK_MS = 20;

function log(level: string, event: string, fields: Record<string, unknown> = {}): void {
  process.stderr.write(
    `${JSON.stringify({ level, time: new Date().toISOString(), app: 'ha-watchdog', pid: process.pid, event, ...fields })}\n`,
  );
}

export class Watchdog {
  deadline: number | null = null;
  fired = 0;
  private client: Socket | null = null;
  private idleSince = monotonicMs();

  constructor(private readonly options: WatchdogProcessOptions) {}

  /** Applies one kick. Without contact evidence a kick may bring the deadline closer, never push it away. */
  kick(deadline: number | null, contact: boolean, now = monotonicMs()): void {
    // Fired already and the agent still reports the same expired lease: the service is down; do
    // not kill (and run the fence command) again every tick. A new lease re-arms it.
    if (this.fired > 0 && deadline !== null && deadline <= now && this.deadline === null) return;
    if (deadline === null) this.deadline = null;
    else if (!contact && this.deadline !== null) this.deadline = Math.min(this.deadline, deadline);
    else this.deadline = deadline;
  }

  tick(now = monotonicMs()): void {
    if (this.deadline !== null && now >= this.deadline) this.fire(now - this.deadline);
    if (this.client || this.deadline !== null) this.idleSince = now;
    else if (now - this.idleSince > this.options.idleExitMs) {
      log('info', 'watchdog.idle_exit');
      this.exit(0);
    }
  }

  fire(lateByMs: number): void {
    this.deadline = null;
    this.fired++;
    const killed: unknown[] = [];
    for (const file of this.options.pidFiles) killed.push(this.killFromPidFile(file));
    let command: Record<string, unknown> | undefined;
    if (this.options.command) {
      const c = this.options.command;
      const run = spawnSync(c.command, c.args, { timeout: c.timeoutMs, stdio: 'ignore' });
      command = { command: c.command, status: run.status, signal: run.signal, error: run.error?.message };
    }
    log('fatal', 'watchdog.fired', { lateByMs: Math.round(lateByMs), killed, command });
    this.send({ t: 'fired', pid: process.pid, deadline: null, fired: this.fired });
  }

  private killFromPidFile(file: string): Record<string, unknown> {
    let pid: number;
    try {
      pid = Number.parseInt(readFileSync(file, 'utf8').trim(), 10);
    } catch (err) {
      return { file, error: (err as NodeJS.ErrnoException).code ?? String(err) };
    }
    if (!Number.isInteger(pid) || pid <= 1) return { file, error: 'no valid pid' };
    // The whole process group when the pid leads one (a service and its children), else the pid.
    try {
      process.kill(-pid, this.options.signal);
      return { file, pid, group: true };
    } catch {
      try {
        process.kill(pid, this.options.signal);
        return { file, pid, group: false };
      } catch (err) {
        return { file, pid, error: (err as NodeJS.ErrnoException).code ?? String(err) };
      }
    }
  }

  attach(socket: Socket): void {
    // One agent per node: the newest connection wins (a restarted agent replaces a dead one's socket).
    if (this.client && this.client !== socket) this.client.destroy();
    this.client = socket;
    let buffer = '';
    socket.setEncoding('utf8');
    socket.on('data', (chunk: string) => {
      buffer += chunk;
      if (buffer.length > 65536) return socket.destroy();
      let nl: number;
      while ((nl = buffer.indexOf('\n')) >= 0) {
        const line = buffer.slice(0, nl);
        buffer = buffer.slice(nl + 1);
        this.onMessage(line);
      }
    });
    socket.on('close', () => {
      if (this.client === socket) {
        this.client = null;
        log('warn', 'watchdog.agent_disconnected', { deadlineInMs: this.remaining() });
      }
    });
    socket.on('error', () => undefined);
  }

  private onMessage(line: string): void {
    let msg: WatchdogKick;
    try {
      msg = JSON.parse(line) as WatchdogKick;
    } catch {
      return;
    }
    if (msg.t === 'exit') {
      if (this.deadline === null) this.exit(0);
      return;
    }
    if (msg.t !== 'kick') return;
    const d = msg.deadline;
    if (d !== null && (typeof d !== 'number' || !Number.isFinite(d))) return;
    const before = this.deadline;
    this.kick(d, msg.contact === true);
    if ((before === null) !== (this.deadline === null)) {
      log('info', this.deadline === null ? 'watchdog.disarmed' : 'watchdog.armed', {
        deadlineInMs: this.remaining(),
      });
    }
    this.send({ t: 'ack', pid: process.pid, deadline: this.deadline, fired: this.fired });
  }

  private remaining(): number | null {
    return this.deadline === null ? null : Math.round(this.deadline - monotonicMs());
  }

  private send(msg: WatchdogAck): void {
    if (this.client && !this.client.destroyed) this.client.write(`${JSON.stringify(msg)}\n`);
  }

  private exit(code: number): never {
    try {
      unlinkSync(this.options.socket);
    } catch {
      /* already gone */
    }
    try {
      unlinkSync(`${this.options.socket}.pid`);
    } catch {
      /* already gone */
    }
    process.exit(code);
  }
}

/** A socket file nobody listens on (a dead watchdog's) is removed; a live one means "already running". */
function socketInUse(path: string): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect(path);
    s.once('connect', () => {
      s.destroy();
      resolve(true);
    });
    s.once('error', () => resolve(false));
  });
}

async function main(): Promise<void> {
  const options = JSON.parse(process.argv[2] ?? '{}') as WatchdogProcessOptions;
  if (await socketInUse(options.socket)) {
    log('info', 'watchdog.already_running', { socket: options.socket });
    process.exit(0);
  }
  try {
    unlinkSync(options.socket);
  } catch {
    /* none */
  }
  const watchdog = new Watchdog(options);
  const server = createServer((socket) => watchdog.attach(socket));
  server.on('error', (err) => {
    log('fatal', 'watchdog.listen_failed', { err: err.message });
    process.exit(1);
  });
  server.listen(options.socket, () => {
    chmodSync(options.socket, 0o600); // only the agent's user may kick or disarm it
    writeFileSync(`${options.socket}.pid`, `${process.pid}\n`);
    log('info', 'watchdog.listening', { socket: options.socket, pidFiles: options.pidFiles });
  });
  setInterval(() => watchdog.tick(), TICK_MS);
  // Signals the agent's group or a terminal may send are not for us: only SIGKILL stops a watchdog.
  for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
    process.on(sig, () => log('warn', 'watchdog.signal_ignored', { signal: sig }));
  }
}

if (require.main === module) void main();
