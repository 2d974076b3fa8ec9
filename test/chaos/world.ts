/**
 * A chaos world: orchestrator processes (all roles, one schema) reaching PostgreSQL and Redis
 * through proxies that can cut them, and hosts in network namespaces (NetLab) each running a real
 * agent, its watchdog and a stand-in protected service that writes liveness beats. Each host's
 * heartbeats reach each orchestrator through a TcpProxy (jitter); orchestrators and peers call
 * agents directly, so iptables in the host's namespace sees every path by address.
 * Every action script logs `<ns> <action> epoch=… step=…` to the host's actions.ns.log, and can be
 * slowed per round by writing seconds to `<dir>/<action>.sleep`.
 */
import { ChildProcess, spawn } from 'node:child_process';
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  unlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { AGENT_NODE_FLAGS } from '../../libs/contracts/src/agent-runtime';
import {
  AGENT_MAIN,
  ProtectedService,
  killWatchdogOf,
  writeScript,
} from '../../libs/testing/src/agent-harness';
import { queryServer } from '../../apps/orchestrator/src/dns/embedded/dns-query';
import {
  ChildOrchestrator,
  http,
  HttpResult,
  spawnOrchestrator,
  testEnv,
  TestEnv,
  waitFor,
} from '../support/orchestrator';
import { TcpProxy } from '../support/tcp-proxy';
import { BEAT_MS } from './invariants';
import { LabHost, NetLab } from './lab';

export const ACTIONS = ['promote', 'demote', 'fence', 'resync', 'start-app', 'stop-app'] as const;
export const ZONE = 'chaos.test';

export interface WorldOptions {
  label: string;
  /** one orchestrator process per port */
  httpPorts: number[];
  dnsPorts: number[];
  /** with these (one per orchestrator), agents send UDP heartbeats (HTTP for the full ones) */
  udpPorts?: number[];
  agentPort: number;
  /** heartbeat proxies listen on the lab's root address from here up */
  proxyBasePort: number;
  hosts: string[];
  scenarios: { name: string; production: string; replicas: string[] }[];
  heartbeatIntervalMs?: number;
  ttlMs?: number;
  policy?: Record<string, unknown>;
  orchestratorEnv?: Record<string, string>;
}

export interface WorldHost {
  name: string;
  lab: LabHost;
  id: string;
  dir: string;
  agentUrl: string;
  actionToken: string;
  configFile: string;
  agent: ChildProcess | null;
  agentLog: string;
  service: ProtectedService;
  /**
   * Last beats of the services restartService replaced (their watchdog took them down): a stop
   * even when the new service began beating sooner than a gap would tell (serviceStops).
   */
  replacedServices: bigint[];
  /** one per orchestrator, in httpPorts order */
  proxies: TcpProxy[];
  /** the clock offset the running agent was started with */
  skewMs: number;
}

export interface WorldScenario {
  name: string;
  id: string;
  record: string;
}

export class ChaosWorld {
  readonly lab = new NetLab();
  readonly dir = mkdtempSync(join(tmpdir(), 'ha-chaos-'));
  readonly hosts: WorldHost[] = [];
  readonly scenarios: WorldScenario[] = [];
  readonly orchestrators: (ChildOrchestrator | null)[] = [];
  readonly pg = new TcpProxy('127.0.0.1', 5432);
  readonly redis = new TcpProxy('127.0.0.1', 6379);
  env!: TestEnv;
  private readonly onExit = () => this.destroySync();

  constructor(readonly opts: WorldOptions) {}

  get interval(): number {
    return this.opts.heartbeatIntervalMs ?? 300;
  }

  host(name: string): WorldHost {
    const h = this.hosts.find((x) => x.name === name);
    if (!h) throw new Error(`no host ${name}`);
    return h;
  }

  hostById(id: string): WorldHost | undefined {
    return this.hosts.find((h) => h.id === id);
  }

  async start(): Promise<void> {
    process.once('exit', this.onExit);
    this.lab.start();
    await this.pg.start();
    await this.redis.start();
    this.env = testEnv(this.opts.label, {
      DATABASE_URL: `postgres://postgres@127.0.0.1:${this.pg.port}/ha_test`,
      REDIS_URL: `redis://127.0.0.1:${this.redis.port}`,
      HTTP_HOST: '0.0.0.0',
      DNS_HOST: '127.0.0.1',
      DETECTOR_TICK_MS: '100',
      HEARTBEAT_FLUSH_MS: '500',
      WORKER_LOCK_MS: '2000',
      STORM_MAX_FAILOVERS: '1000',
      LOG_LEVEL: process.env.CHAOS_LOG_LEVEL ?? 'warn',
      ...(this.opts.orchestratorEnv ?? {}),
    });
    for (let j = 0; j < this.opts.httpPorts.length; j++)
      this.orchestrators.push(await this.spawnOrchestrator(j));
    for (const name of this.opts.hosts) await this.addHost(name);
    for (const h of this.hosts) this.startAgent(h);
    for (const h of this.hosts) await this.waitAgentUp(h);
    for (const s of this.opts.scenarios) await this.addScenario(s);
    for (const s of this.scenarios) {
      const r = await this.api('POST', `/api/v1/scenarios/${s.id}/start`, { reason: 'chaos world start' });
      if (r.status !== 202) throw new Error(`start ${s.name}: ${r.status} ${JSON.stringify(r.body)}`);
    }
    for (const s of this.scenarios) {
      await waitFor(`${s.name} running`, async () => (await this.scenario(s.id))?.state === 'running', 60000);
    }
  }

  async spawnOrchestrator(j: number): Promise<ChildOrchestrator> {
    return spawnOrchestrator(
      { ...this.env.env, DNS_PORT: String(this.opts.dnsPorts[j]) },
      this.opts.httpPorts[j],
    );
  }

  /** The first orchestrator that answers (others may be down or frozen on purpose). */
  async api<T = any>(method: string, path: string, body?: unknown): Promise<HttpResult<T>> {
    let last: unknown;
    for (const port of this.opts.httpPorts) {
      try {
        return await http<T>(`http://127.0.0.1:${port}`, method, path, {
          token: this.env.adminToken,
          body,
          timeoutMs: 3000,
        });
      } catch (err) {
        last = err;
      }
    }
    throw new Error(`no orchestrator answered ${method} ${path}: ${String(last)}`);
  }

  async scenario(id: string): Promise<any> {
    const r = await this.api('GET', `/api/v1/scenarios/${id}`);
    return r.status === 200 ? r.body : null;
  }

  async operations(scenarioId: string): Promise<any[]> {
    const r = await this.api('GET', `/api/v1/operations?scenarioId=${scenarioId}&limit=500`);
    if (r.status !== 200) throw new Error(`operations: ${r.status} ${JSON.stringify(r.body)}`);
    return r.body.items;
  }

  async operation(id: string): Promise<any> {
    const r = await this.api('GET', `/api/v1/operations/${id}`);
    return r.status === 200 ? r.body : null;
  }

  /** The operation once it has ended (succeeded or failed); throws after `timeoutMs`. */
  waitOperationEnd(id: string, timeoutMs = 90000): Promise<any> {
    return waitFor(
      `operation ${id} to end`,
      async () => {
        const op = await this.operation(id).catch(() => null);
        return operationEnded(op) ? op : null;
      },
      timeoutMs,
      250,
    );
  }

  private async addHost(name: string): Promise<void> {
    const lab = this.lab.addHost(name);
    const agentUrl = `http://${lab.ip}:${this.opts.agentPort}`;
    const site = `site-${this.hosts.length + 1}`;
    const r = await this.api('POST', '/api/v1/nodes', { name, address: lab.ip, agentUrl, labels: { site } });
    if (r.status !== 201) throw new Error(`node ${name}: ${JSON.stringify(r.body)}`);
    const dir = join(this.dir, name);
    mkdirSync(dir, { recursive: true });
    const actions: Record<string, unknown> = {};
    for (const action of ACTIONS) {
      const sleep = join(dir, `${action}.sleep`);
      const script = writeScript(
        dir,
        `${action}.sh`,
        `#!/bin/sh\n[ -f "${sleep}" ] && sleep "$(cat "${sleep}")"\n` +
          `echo "$(date +%s%N) ${action} epoch=$HA_EPOCH step=$HA_STEP_ID scenario=$HA_SCENARIO_ID" >> "${join(dir, 'actions.ns.log')}"\nexit 0\n`,
      );
      actions[action] = { command: script, args: [], timeoutMs: 15000 };
    }
    const service = new ProtectedService(dir, { beatMs: BEAT_MS });
    service.start();
    const proxies: TcpProxy[] = [];
    const hostIndex = this.hosts.length;
    for (let j = 0; j < this.opts.httpPorts.length; j++) {
      const p = new TcpProxy(
        '127.0.0.1',
        this.opts.httpPorts[j],
        this.lab.rootIp,
        this.opts.proxyBasePort + hostIndex * this.opts.httpPorts.length + j,
      );
      await p.start();
      proxies.push(p);
    }
    const configFile = join(dir, 'agent.json');
    writeFileSync(
      configFile,
      JSON.stringify({
        nodeId: r.body.node.id,
        nodeName: name,
        orchestrators: proxies.map((p) => `http://${p.listenHost}:${p.port}`),
        token: r.body.agentToken,
        actionToken: r.body.actionToken,
        listen: { host: lab.ip, port: this.opts.agentPort },
        heartbeatIntervalMs: this.interval,
        udpHeartbeats: !!this.opts.udpPorts,
        stateFile: join(dir, 'state.json'),
        actions,
        watchdog: { pidFiles: [service.pidFile] },
        logLevel: 'warn',
      }),
    );
    this.hosts.push({
      name,
      lab,
      id: r.body.node.id,
      dir,
      agentUrl,
      actionToken: r.body.actionToken,
      configFile,
      agent: null,
      agentLog: '',
      service,
      replacedServices: [],
      proxies,
      skewMs: 0,
    });
  }

  private async addScenario(s: WorldOptions['scenarios'][number]): Promise<void> {
    const record = `${s.name}.${ZONE}`;
    const interval = this.interval;
    const r = await this.api('POST', '/api/v1/scenarios', {
      name: s.name,
      productionNodeId: this.host(s.production).id,
      replicaNodeIds: s.replicas.map((n) => this.host(n).id),
      dnsRecords: [{ zone: ZONE, name: record, type: 'A', ttl: 1 }],
      failoverMode: 'auto',
      checks: [
        {
          name: 'heartbeat',
          kind: 'heartbeat',
          intervalMs: interval,
          ttlMs: this.opts.ttlMs ?? interval * 6,
        },
      ],
      policy: {
        leaseMs: interval * 10,
        leaseMarginMs: 300,
        holdDownMs: 1000,
        recoveryHoldMs: 1000,
        ...(this.opts.policy ?? {}),
      },
    });
    if (r.status !== 201) throw new Error(`scenario ${s.name}: ${JSON.stringify(r.body)}`);
    this.scenarios.push({ name: s.name, id: r.body.id, record });
    await waitFor(
      `agents of ${s.name} know it`,
      async () => {
        for (const n of [s.production, ...s.replicas]) {
          if (!JSON.stringify((await this.agentStatus(this.host(n))) ?? {}).includes(r.body.id)) return false;
        }
        return true;
      },
      30000,
    );
  }

  /**
   * Starts the host's agent in its namespace, its wall clock (Date) shifted by `skewMs`
   * (setClockSkew changes that while it runs, as an NTP step would).
   */
  startAgent(h: WorldHost, skewMs = 0): void {
    this.setClockSkew(h, skewMs);
    const child = spawn(
      'ip',
      [
        'netns',
        'exec',
        h.lab.ns,
        process.execPath,
        ...AGENT_NODE_FLAGS,
        '-r',
        this.skewPreload(),
        AGENT_MAIN,
        '--config',
        h.configFile,
      ],
      {
        cwd: h.dir,
        stdio: ['ignore', 'pipe', 'pipe'],
        env: { ...process.env, HA_CLOCK_SKEW_FILE: join(h.dir, 'clock-skew') },
      },
    );
    h.agentLog += `--- agent started ${new Date().toISOString()}${skewMs ? ` with its clock ${skewMs} ms off` : ''}\n`;
    // Its log lines (stdout) and anything it prints on stderr, the last 64 KiB.
    const keep = (d: string) => (h.agentLog = (h.agentLog + d).slice(-65536));
    child.stdout!.setEncoding('utf8').on('data', keep);
    child.stderr!.setEncoding('utf8').on('data', keep);
    h.agent = child;
  }

  /** Shifts the running agent's wall clock by `ms` from now on (the preload reads the file every 100 ms). */
  setClockSkew(h: WorldHost, ms: number): void {
    writeFileSync(join(h.dir, 'clock-skew'), String(ms));
    h.skewMs = ms;
  }

  async waitAgentUp(h: WorldHost, timeoutMs = 15000): Promise<void> {
    await waitFor(
      `agent ${h.name} up`,
      async () => {
        if (h.agent && h.agent.exitCode !== null) throw new Error(`agent ${h.name} exited: ${h.agentLog}`);
        return (await this.agentStatus(h)) !== null;
      },
      timeoutMs,
    );
  }

  agentRunning(h: WorldHost): boolean {
    return !!h.agent && h.agent.exitCode === null && h.agent.signalCode === null;
  }

  signalAgent(h: WorldHost, signal: NodeJS.Signals): void {
    if (this.agentRunning(h)) h.agent!.kill(signal);
  }

  async killAgent(h: WorldHost): Promise<void> {
    if (!this.agentRunning(h)) return;
    const exited = new Promise((r) => h.agent!.once('exit', r));
    h.agent!.kill('SIGKILL');
    await exited;
  }

  /**
   * A JS file that shifts Date (now, new Date(), Date()) by the number in HA_CLOCK_SKEW_FILE, re-read
   * every 100 ms; monotonic clocks (performance.now, process.hrtime) are untouched, as with a real
   * wall-clock step.
   */
  private skewPreload(): string {
    const f = join(this.dir, 'clock-skew.js');
    if (!existsSync(f)) {
      writeFileSync(
        f,
        `const fs = require('fs');
const file = process.env.HA_CLOCK_SKEW_FILE;
let skew = 0;
const read = () => { try { skew = Number(fs.readFileSync(file, 'utf8')) || 0; } catch { skew = 0; } };
read();
setInterval(read, 100).unref();
const RealDate = Date;
class SkewedDate extends RealDate {
  constructor(...args) { if (args.length === 0) super(RealDate.now() + skew); else super(...args); }
  static now() { return RealDate.now() + skew; }
}
globalThis.Date = SkewedDate;
`,
      );
    }
    return f;
  }

  async agentStatus(h: WorldHost): Promise<any> {
    try {
      const r = await fetch(`${h.agentUrl}/status`, {
        headers: { authorization: `Bearer ${h.actionToken}` },
        signal: AbortSignal.timeout(1000),
      });
      return r.ok ? await r.json() : null;
    } catch {
      return null;
    }
  }

  /** A fresh stand-in service for a host whose watchdog took the old one down. */
  restartService(h: WorldHost): void {
    if (h.service.alive()) return;
    const beats = h.service.beats();
    if (beats.length) h.replacedServices.push(beats[beats.length - 1]);
    h.service = new ProtectedService(h.dir, { beatMs: BEAT_MS });
    h.service.start();
  }

  setActionSleep(h: WorldHost, action: string, seconds: number | null): void {
    const f = join(h.dir, `${action}.sleep`);
    if (seconds === null) {
      if (existsSync(f)) unlinkSync(f);
    } else writeFileSync(f, String(seconds));
  }

  /** Index of the orchestrator that evaluates the host's node now (sharded detection), or null. */
  async detectorOf(h: WorldHost): Promise<number | null> {
    const r = await this.api('GET', `/api/v1/nodes/${h.id}/health`).catch(() => null);
    const owner: string | undefined = r?.body?.detection?.owners?.[0];
    const j = owner ? this.opts.httpPorts.findIndex((p) => owner.endsWith(`:${p}`)) : -1;
    return j >= 0 ? j : null;
  }

  orchestratorRunning(j: number): boolean {
    const o = this.orchestrators[j];
    return !!o && o.child.exitCode === null && o.child.signalCode === null;
  }

  async killOrchestrator(j: number): Promise<void> {
    await this.orchestrators[j]?.stop('SIGKILL');
  }

  async restartOrchestrator(j: number): Promise<void> {
    if (this.orchestratorRunning(j)) return;
    this.orchestrators[j] = await this.spawnOrchestrator(j);
  }

  async dns(name: string, j = 0): Promise<string[]> {
    const res = await queryServer(
      { host: '127.0.0.1', port: this.opts.dnsPorts[j], timeoutMs: 500 },
      name,
      'A',
    );
    return res.answers.map((a) => (a as { address: string }).address).sort();
  }

  /** The answer of the first running orchestrator's DNS server that answers ([] if none does). */
  async dnsAny(name: string): Promise<string[]> {
    for (let j = 0; j < this.opts.dnsPorts.length; j++) {
      if (!this.orchestratorRunning(j)) continue;
      const a = await this.dns(name, j).catch(() => null);
      if (a) return a;
    }
    return [];
  }

  /** Every action run on the host: CLOCK_REALTIME ns, action, epoch, step id, scenario. */
  actionLog(h: WorldHost): ActionRun[] {
    const f = join(h.dir, 'actions.ns.log');
    if (!existsSync(f)) return [];
    return readFileSync(f, 'utf8')
      .split('\n')
      .filter(Boolean)
      .map((l) => {
        const [ns, action, ...kv] = l.split(' ');
        const field = (k: string) => kv.find((x) => x.startsWith(`${k}=`))?.slice(k.length + 1) ?? '';
        return {
          host: h.name,
          ns: BigInt(ns),
          action,
          epoch: Number(field('epoch')),
          stepId: field('step'),
          scenarioId: field('scenario'),
        };
      });
  }

  /**
   * Writes what a failing round needs to be understood under `dir`: process logs, and per host
   * every file of its directory (action log, watchdog log, the service's beats, agent state), and
   * each scenario's operations with their steps' outputs (how each node was fenced, and when).
   */
  async saveDiagnostics(dir: string): Promise<string> {
    mkdirSync(dir, { recursive: true });
    this.orchestrators.forEach((o, j) =>
      writeFileSync(join(dir, `orchestrator-${j}.log`), o?.logs.join('') ?? ''),
    );
    for (const h of this.hosts) {
      writeFileSync(join(dir, `${h.name}-agent.log`), h.agentLog);
      const hostDir = join(dir, h.name);
      mkdirSync(hostDir, { recursive: true });
      for (const f of readdirSync(h.dir)) {
        const from = join(h.dir, f);
        if (statSync(from).isFile()) writeFileSync(join(hostDir, f), readFileSync(from));
      }
    }
    for (const s of this.scenarios) {
      const ops = await this.operations(s.id).catch((err: Error) => [{ error: err.message }]);
      const detailed = await Promise.all(
        ops.map((o) => (o.id ? this.operation(o.id).catch(() => o) : Promise.resolve(o))),
      );
      writeFileSync(join(dir, `${s.name}-operations.json`), JSON.stringify(detailed, null, 2));
      // Why detection did or did not act: its decision records, the scenario's status and events.
      const extra: Record<string, string> = {
        decisions: `/api/v1/scenarios/${s.id}/decisions?limit=100`,
        status: `/api/v1/scenarios/${s.id}/status`,
        events: `/api/v1/events?scenarioId=${s.id}&limit=200`,
      };
      for (const [name, path] of Object.entries(extra)) {
        const r = await this.api('GET', path).catch((err: Error) => ({ status: 0, body: err.message }));
        writeFileSync(join(dir, `${s.name}-${name}.json`), JSON.stringify(r.body, null, 2));
      }
    }
    return dir;
  }

  async close(): Promise<void> {
    process.removeListener('exit', this.onExit);
    for (const h of this.hosts) {
      if (this.agentRunning(h)) {
        h.agent!.kill('SIGCONT');
        await this.killAgent(h);
      }
      for (const p of h.proxies) await p.stop();
    }
    for (let j = 0; j < this.orchestrators.length; j++) {
      this.orchestrators[j]?.child.kill('SIGCONT');
      await this.killOrchestrator(j).catch(() => undefined);
    }
    this.pg.restore();
    this.redis.restore();
    await this.env?.cleanup().catch(() => undefined);
    await this.pg.stop();
    await this.redis.stop();
    this.destroySync();
  }

  /** What must go even when the process is exiting: processes, watchdogs, services, namespaces. */
  private destroySync(): void {
    for (const h of this.hosts) {
      if (h.agent && h.agent.exitCode === null) h.agent.kill('SIGKILL');
      killWatchdogOf(h.configFile);
      h.service.stop();
    }
    for (const o of this.orchestrators) if (o && o.child.exitCode === null) o.child.kill('SIGKILL');
    this.lab.destroy();
    rmSync(this.dir, { recursive: true, force: true });
  }
}

export const operationEnded = (op: { state?: string } | null | undefined): boolean =>
  op?.state === 'succeeded' || op?.state === 'failed';

export interface ActionRun {
  host: string;
  ns: bigint;
  action: string;
  epoch: number;
  stepId: string;
  scenarioId: string;
}
