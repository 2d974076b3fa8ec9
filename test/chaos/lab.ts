/**
 * The fault-injection lab: test hosts in their own network namespaces on one bridge, faults made
 * with iptables inside a host's namespace (full and one-way partitions, cuts from the orchestrators
 * only, random loss with `-m statistic`), and delay/jitter through a userspace TCP proxy (this
 * kernel has no netem qdisc). Everything it creates carries its tag and is removed by `destroy()`,
 * and by the next lab's start should a run have been killed before it could clean up.
 */
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import net from 'node:net';

const PREFIX = 'hc';

export function sh(cmd: string, args: string[]): string {
  return execFileSync(cmd, args, { stdio: 'pipe' }).toString();
}

function quiet(cmd: string, args: string[]): void {
  try {
    sh(cmd, args);
  } catch {
    /* already gone */
  }
}

export interface LabHost {
  name: string;
  ns: string;
  /** the host's address inside its namespace */
  ip: string;
  vethRoot: string;
  vethNs: string;
}

export type LinkFault =
  | { kind: 'partition' }
  | { kind: 'drop-in' }
  | { kind: 'drop-out' }
  | { kind: 'cut-from'; ip: string }
  | { kind: 'loss'; probability: number; direction?: 'both' | 'in' | 'out' };

export class NetLab {
  readonly tag = randomBytes(3).toString('hex');
  readonly bridge = `${PREFIX}${this.tag}b`;
  readonly subnet: string;
  /** the root namespace's address on the bridge: orchestrators and proxies are reached here */
  readonly rootIp: string;
  readonly hosts: LabHost[] = [];

  constructor() {
    NetLab.removeLeftovers();
    const used = sh('ip', ['-4', '-o', 'addr']);
    let k = 1 + (Number.parseInt(this.tag, 16) % 250);
    while (used.includes(`10.214.${k}.`)) k = (k % 250) + 1;
    this.subnet = `10.214.${k}`;
    this.rootIp = `${this.subnet}.1`;
  }

  /** Namespaces and bridge of a lab whose process died before its destroy(). */
  static removeLeftovers(): void {
    const namespaces = sh('ip', ['netns', 'list'])
      .split('\n')
      .map((l) => l.split(' ')[0])
      .filter((n) => n.startsWith(PREFIX));
    // A lab lives while its owner process does: the owner's pid is the bridge's alias.
    for (const line of sh('ip', ['-o', 'link', 'show', 'type', 'bridge']).split('\n')) {
      const m = /^\d+: (hc[0-9a-f]{6})b[:@].*alias (\d+)/.exec(line);
      if (!m || alive(Number(m[2]))) continue;
      quiet('ip', ['link', 'del', `${m[1]}b`]);
      for (const ns of namespaces) if (ns.startsWith(m[1])) quiet('ip', ['netns', 'del', ns]);
    }
  }

  start(): void {
    sh('ip', ['link', 'add', this.bridge, 'type', 'bridge']);
    sh('ip', ['link', 'set', this.bridge, 'alias', String(process.pid)]);
    sh('ip', ['addr', 'add', `${this.rootIp}/24`, 'dev', this.bridge]);
    sh('ip', ['link', 'set', this.bridge, 'up']);
  }

  addHost(name: string): LabHost {
    const i = this.hosts.length + 1;
    const host: LabHost = {
      name,
      ns: `${PREFIX}${this.tag}${i}`,
      ip: `${this.subnet}.${10 + i}`,
      vethRoot: `${PREFIX}${this.tag}r${i}`,
      vethNs: `${PREFIX}${this.tag}n${i}`,
    };
    sh('ip', ['netns', 'add', host.ns]);
    sh('ip', ['link', 'add', host.vethRoot, 'type', 'veth', 'peer', 'name', host.vethNs]);
    sh('ip', ['link', 'set', host.vethNs, 'netns', host.ns]);
    sh('ip', ['link', 'set', host.vethRoot, 'master', this.bridge]);
    sh('ip', ['link', 'set', host.vethRoot, 'up']);
    const inNs = (...args: string[]) => sh('ip', ['netns', 'exec', host.ns, ...args]);
    inNs('ip', 'addr', 'add', `${host.ip}/24`, 'dev', host.vethNs);
    inNs('ip', 'link', 'set', host.vethNs, 'up');
    inNs('ip', 'link', 'set', 'lo', 'up');
    this.hosts.push(host);
    return host;
  }

  host(name: string): LabHost {
    const h = this.hosts.find((x) => x.name === name);
    if (!h) throw new Error(`no lab host ${name}`);
    return h;
  }

  /** The command line that runs `argv` inside the host's namespace. */
  exec(host: LabHost, argv: string[]): [string, string[]] {
    return ['ip', ['netns', 'exec', host.ns, ...argv]];
  }

  /** Adds a fault on the host's link (rules inside its namespace; loopback is never touched). */
  inject(host: LabHost, fault: LinkFault): void {
    const ipt = (...rule: string[]) => sh('ip', ['netns', 'exec', host.ns, 'iptables', '-A', ...rule]);
    const inR = ['INPUT', '-i', host.vethNs];
    const outR = ['OUTPUT', '-o', host.vethNs];
    switch (fault.kind) {
      case 'partition':
        ipt(...inR, '-j', 'DROP');
        ipt(...outR, '-j', 'DROP');
        break;
      case 'drop-in':
        ipt(...inR, '-j', 'DROP');
        break;
      case 'drop-out':
        ipt(...outR, '-j', 'DROP');
        break;
      case 'cut-from':
        ipt(...inR, '-s', fault.ip, '-j', 'DROP');
        ipt(...outR, '-d', fault.ip, '-j', 'DROP');
        break;
      case 'loss': {
        const p = fault.probability.toFixed(3);
        const dir = fault.direction ?? 'both';
        if (dir !== 'out')
          ipt(...inR, '-m', 'statistic', '--mode', 'random', '--probability', p, '-j', 'DROP');
        if (dir !== 'in')
          ipt(...outR, '-m', 'statistic', '--mode', 'random', '--probability', p, '-j', 'DROP');
        break;
      }
    }
  }

  /** Removes every fault rule of the host. */
  heal(host: LabHost): void {
    sh('ip', ['netns', 'exec', host.ns, 'iptables', '-F']);
  }

  rules(host: LabHost): string {
    return sh('ip', ['netns', 'exec', host.ns, 'iptables', '-S']);
  }

  destroy(): void {
    for (const h of this.hosts) {
      quiet('ip', ['netns', 'del', h.ns]);
      quiet('ip', ['link', 'del', h.vethRoot]);
    }
    this.hosts.length = 0;
    quiet('ip', ['link', 'del', this.bridge]);
  }
}

function alive(pid: number): boolean {
  if (!pid) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/**
 * A TCP proxy that delays every chunk, both ways, by `delayMs ± jitterMs` (uniform) while keeping
 * the byte order of each direction, as a slow link would. With both at 0 it just forwards. It can
 * also cut: drop every connection and refuse new ones until restored.
 */
export class DelayProxy {
  delayMs = 0;
  jitterMs = 0;
  private server: net.Server | null = null;
  private readonly sockets = new Set<net.Socket>();
  private down = false;
  private readonly timers = new Set<NodeJS.Timeout>();

  constructor(
    readonly listenHost: string,
    readonly listenPort: number,
    private readonly targetHost: string,
    private readonly targetPort: number,
    private readonly random: () => number = Math.random,
  ) {}

  async start(): Promise<void> {
    this.server = net.createServer((client) => {
      if (this.down) return client.destroy();
      const upstream = net.connect(this.targetPort, this.targetHost);
      this.sockets.add(client).add(upstream);
      const close = () => {
        client.destroy();
        upstream.destroy();
        this.sockets.delete(client);
        this.sockets.delete(upstream);
      };
      client.on('error', close).on('close', close);
      upstream.on('error', close).on('close', close);
      this.pipe(client, upstream);
      this.pipe(upstream, client);
    });
    await new Promise<void>((resolve, reject) => {
      this.server!.once('error', reject);
      this.server!.listen(this.listenPort, this.listenHost, resolve);
    });
  }

  private pipe(from: net.Socket, to: net.Socket): void {
    let last = 0;
    from.on('data', (chunk) => {
      if (this.delayMs === 0 && this.jitterMs === 0 && last <= Date.now()) {
        to.write(chunk);
        return;
      }
      const d = Math.max(0, this.delayMs + (this.random() * 2 - 1) * this.jitterMs);
      // A later chunk never overtakes an earlier one: TCP delivers in order.
      const at = Math.max(last, Date.now() + d);
      last = at;
      const t = setTimeout(() => {
        this.timers.delete(t);
        if (!to.destroyed) to.write(chunk);
      }, at - Date.now());
      this.timers.add(t);
    });
  }

  set(delayMs: number, jitterMs: number): void {
    this.delayMs = delayMs;
    this.jitterMs = jitterMs;
  }

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
