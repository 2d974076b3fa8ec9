/**
 * The agent's side of the watchdog (see watchdog-main.ts): connects to the node's watchdog over its
 * unix socket, starting the watchdog process when none runs, kicks it with the lease deadline and
 * tells the heartbeat whether it is armed (running, and it acknowledged a recent kick).
 */
import { spawn } from 'node:child_process';
import { closeSync, openSync } from 'node:fs';
import { Socket, connect } from 'node:net';
import { join } from 'node:path';
import type { WatchdogReport } from '@ha/contracts';
import { Logger } from 'pino';
import { ResolvedWatchdog } from '../config';
import { monotonicMs } from './monotonic';
import { WatchdogAck, WatchdogKick, WatchdogProcessOptions } from './watchdog-main';

const RECONNECT_MS = 1000;
/** An ack older than this means the watchdog is not answering: not armed. */
const ACK_FRESH_MS = 1500;

export class WatchdogClient {
  private socket: Socket | null = null;
  private connecting = false;
  private lastAckAt = Number.NEGATIVE_INFINITY;
  private lastAck: WatchdogAck | null = null;
  private reconnectTimer: NodeJS.Timeout | undefined;
  private stopped = false;

  constructor(
    private readonly config: ResolvedWatchdog | undefined,
    private readonly logger: Logger,
  ) {}

  /** Connects (starting the watchdog if none runs); resolves once connected or after the first failure. */
  async start(): Promise<void> {
    if (this.config) await this.ensureConnected();
  }

  /** Resolves when the watchdog acknowledged a kick (or after `timeoutMs`): the first heartbeat can say armed. */
  async acknowledged(timeoutMs: number): Promise<void> {
    const deadline = monotonicMs() + timeoutMs;
    while (this.config && this.socket && !this.report().armed && monotonicMs() < deadline) {
      await new Promise((r) => setTimeout(r, 10));
    }
  }

  /** `deadline` is CLOCK_MONOTONIC ms (null: production nowhere, disarm); `contact`: it rests on real contact. */
  kick(deadline: number | null, contact: boolean): void {
    if (!this.config) return;
    this.send({ t: 'kick', deadline, contact });
  }

  /**
   * Armed: the watchdog runs, acknowledged a kick in the last 1.5 s, and, when this node is
   * production somewhere, holds a deadline (so it would kill the service if the agent froze now).
   */
  report(production = false): WatchdogReport {
    if (!this.config) return { mode: 'none', armed: false };
    const fresh = this.socket !== null && monotonicMs() - this.lastAckAt <= ACK_FRESH_MS;
    const guarding = !production || (this.lastAck !== null && this.lastAck.deadline !== null);
    return { mode: 'process', armed: fresh && guarding };
  }

  status(production = false): Record<string, unknown> {
    return {
      ...this.report(production),
      pid: this.lastAck?.pid ?? null,
      fired: this.lastAck?.fired ?? 0,
      deadlineInMs: this.lastAck?.deadline == null ? null : Math.round(this.lastAck.deadline - monotonicMs()),
    };
  }

  /**
   * Graceful agent stop. A node that is production somewhere keeps its watchdog armed: if the agent
   * stays down past the lease the service goes down too, so the orchestrator's lease-expiry fencing
   * stays true. Otherwise the watchdog is told to exit.
   */
  stop(production: boolean): void {
    this.stopped = true;
    clearTimeout(this.reconnectTimer);
    if (!production) this.send({ t: 'exit' });
    this.socket?.end();
    this.socket = null;
  }

  private send(msg: WatchdogKick): void {
    if (this.socket && !this.socket.destroyed) this.socket.write(`${JSON.stringify(msg)}\n`);
    else void this.ensureConnected();
  }

  private async ensureConnected(): Promise<void> {
    if (!this.config || this.socket || this.connecting || this.stopped) return;
    this.connecting = true;
    try {
      let socket = await this.tryConnect();
      if (!socket) {
        this.spawnWatchdog();
        for (let i = 0; i < 40 && !socket && !this.stopped; i++) {
          await new Promise((r) => setTimeout(r, 50));
          socket = await this.tryConnect();
        }
      }
      if (!socket) throw new Error('watchdog did not start listening');
      this.attach(socket);
    } catch (err) {
      this.logger.error(
        { event: 'watchdog.unavailable', socket: this.config.socket, err: (err as Error).message },
        'watchdog not running: lease-expiry fencing of this node is not safe',
      );
      if (!this.stopped) this.reconnectTimer = setTimeout(() => void this.ensureConnected(), RECONNECT_MS);
    } finally {
      this.connecting = false;
    }
  }

  private tryConnect(): Promise<Socket | null> {
    return new Promise((resolve) => {
      const s = connect(this.config!.socket);
      s.once('connect', () => resolve(s));
      s.once('error', () => resolve(null));
    });
  }

  private spawnWatchdog(): void {
    const c = this.config!;
    const options: WatchdogProcessOptions = {
      socket: c.socket,
      pidFiles: c.pidFiles,
      command: c.command,
      signal: c.signal,
      idleExitMs: c.idleExitMs,
    };
    const logFd = openSync(c.logFile, 'a', 0o600);
    try {
      const child = spawn(process.execPath, [join(__dirname, 'watchdog-main.js'), JSON.stringify(options)], {
        detached: true,
        stdio: ['ignore', logFd, logFd],
      });
      child.unref();
      this.logger.info(
        { event: 'watchdog.spawned', pid: child.pid, socket: c.socket, logFile: c.logFile },
        'watchdog started',
      );
    } finally {
      closeSync(logFd);
    }
  }

  private attach(socket: Socket): void {
    this.socket = socket;
    let buffer = '';
    socket.setEncoding('utf8');
    socket.on('data', (chunk: string) => {
      buffer += chunk;
      let nl: number;
      while ((nl = buffer.indexOf('\n')) >= 0) {
        const line = buffer.slice(0, nl);
        buffer = buffer.slice(nl + 1);
        try {
          const ack = JSON.parse(line) as WatchdogAck;
          if (ack.t === 'fired') {
            this.logger.fatal(
              { event: 'watchdog.fired', watchdogPid: ack.pid, fired: ack.fired },
              'WATCHDOG FIRED: the lease expired without renewal; the protected service was killed',
            );
          }
          this.lastAck = ack;
          this.lastAckAt = monotonicMs();
        } catch {
          /* ignore a garbled line */
        }
      }
    });
    socket.on('close', () => {
      if (this.socket === socket) this.socket = null;
      if (!this.stopped) {
        this.logger.error({ event: 'watchdog.disconnected' }, 'lost the watchdog; reconnecting');
        this.reconnectTimer = setTimeout(() => void this.ensureConnected(), 100);
      }
    });
    socket.on('error', () => undefined);
    this.logger.info({ event: 'watchdog.connected', socket: this.config!.socket }, 'watchdog connected');
  }
}
