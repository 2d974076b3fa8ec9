/**
 * The fault-injection lab: test hosts in their own network namespaces on one bridge, faults made
 * with iptables inside a host's namespace (full and one-way partitions, cuts from the orchestrators
 * only, random loss with `-m statistic`), and delay/jitter through a userspace TCP proxy (TcpProxy; this
 * kernel has no netem qdisc). Everything it creates carries its tag and is removed by `destroy()`,
 * and by the next lab's start should a run have been killed before it could clean up.
 */
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';

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
