/**
 * A TCP proxy a test can cut: stands between an orchestrator and PostgreSQL or Redis so a test can
 * make a dependency "go down" for one orchestrator without touching the shared servers other tests use.
 * It can also slow a link: `setDelay(ms, jitterMs)` delays every chunk, both ways, by ms ± jitter
 * (uniform) while keeping each direction's byte order, as a slow TCP path would (this kernel has no
 * netem qdisc).
 */
import net from 'node:net';

export class TcpProxy {
  private server: net.Server | null = null;
  private sockets = new Set<net.Socket>();
  private readonly timers = new Set<NodeJS.Timeout>();
  private down = false;
  private delayMs = 0;
  private jitterMs = 0;
  port = 0;

  constructor(
    private readonly targetHost: string,
    private readonly targetPort: number,
    readonly listenHost = '127.0.0.1',
    private readonly listenPort = 0,
  ) {}

  async start(): Promise<void> {
    this.server = net.createServer((client) => {
      if (this.down) {
        client.destroy();
        return;
      }
      const upstream = net.connect(this.targetPort, this.targetHost);
      this.sockets.add(client);
      this.sockets.add(upstream);
      const close = () => {
        client.destroy();
        upstream.destroy();
        this.sockets.delete(client);
        this.sockets.delete(upstream);
      };
      client.on('error', close).on('close', close);
      upstream.on('error', close).on('close', close);
      this.forward(client, upstream);
      this.forward(upstream, client);
    });
    await new Promise<void>((resolve, reject) => {
      this.server!.once('error', reject);
      this.server!.listen(this.listenPort, this.listenHost, resolve);
    });
    this.port = (this.server!.address() as net.AddressInfo).port;
  }

  private forward(from: net.Socket, to: net.Socket): void {
    let last = 0;
    from.on('data', (chunk) => {
      const now = Date.now();
      if (this.delayMs === 0 && this.jitterMs === 0 && last <= now) {
        to.write(chunk);
        return;
      }
      const d = Math.max(0, this.delayMs + (Math.random() * 2 - 1) * this.jitterMs);
      // A later chunk never overtakes an earlier one.
      last = Math.max(last, now + d);
      const t = setTimeout(() => {
        this.timers.delete(t);
        if (!to.destroyed) to.write(chunk);
      }, last - now);
      this.timers.add(t);
    });
  }

  setDelay(delayMs: number, jitterMs = 0): void {
    this.delayMs = delayMs;
    this.jitterMs = jitterMs;
  }

  /** Drop every connection and refuse new ones. */
  cut(): void {
    this.down = true;
    for (const s of this.sockets) s.destroy();
    this.sockets.clear();
  }

  restore(): void {
    this.down = false;
  }

  async stop(): Promise<void> {
    this.cut();
    for (const t of this.timers) clearTimeout(t);
    await new Promise<void>((resolve) => (this.server ? this.server.close(() => resolve()) : resolve()));
  }
}
