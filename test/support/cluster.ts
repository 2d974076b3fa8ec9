/**
 * A whole protected service on loopback for end-to-end tests: an orchestrator (own schema, Redis
 * prefix, HTTP port and DNS port), real agent processes on their own 127.0.0.x addresses with
 * action scripts that log every run (so tests can count them), nodes and a started scenario.
 */
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  AgentFleet,
  AgentProcess,
  ProtectedService,
  writeScript,
} from '../../libs/testing/src/agent-harness';
import { queryServer } from '../../apps/orchestrator/src/dns/embedded/dns-query';
import {
  ChildOrchestrator,
  http,
  InProcessOrchestrator,
  spawnOrchestrator,
  startOrchestrator,
  waitFor,
} from './orchestrator';

export interface ClusterNode {
  name: string;
  id: string;
  address: string;
  agentUrl: string;
  agentToken: string;
  actionToken: string;
  dir: string;
  config: Record<string, unknown>;
  agent: AgentProcess | null;
  /** the service the node's watchdog guards (none with `watchdog: false`) */
  service: ProtectedService | null;
}

export interface ClusterOptions {
  label: string;
  /** e.g. '127.0.0.4' → nodes at 127.0.0.41, .42, … */
  addressPrefix: string;
  agentPort: number;
  dnsPort: number;
  /** where dnsAnswer()/waitDns() ask (default 127.0.0.1: the embedded server) */
  dnsHost?: string;
  replicas?: number;
  heartbeatIntervalMs?: number;
  failoverMode?: 'auto' | 'manual';
  policy?: Record<string, unknown>;
  orchestratorEnv?: Record<string, string>;
  /** seconds an action script sleeps before it logs and succeeds, e.g. { promote: 1.5 } */
  actionDelaySeconds?: Record<string, number>;
  /** run the operations worker in a separate child process on this HTTP port (the in-process one has no worker role) */
  workerProcessPort?: number;
  /** a second full orchestrator (all roles) as a child process on these ports; agents report to both */
  secondOrchestrator?: { httpPort: number; dnsPort: number };
  /**
   * also configure the Assured Recovery actions (ar-suspend … ar-resume). Each logs like the others;
   * a test steers one by writing files in the node's dir: `<action>.sleep` (seconds to sleep first)
   * and `<action>.exit` (its exit code).
   */
  arActions?: boolean;
  /** extra agent config per node name */
  agentExtra?: (name: string) => Record<string, unknown>;
  /** TTL (seconds) of the scenario's DNS record (default 1) */
  recordTtl?: number;
  /** scenario checks (default: one heartbeat check, TTL 4 × heartbeat interval) */
  checks?: Record<string, unknown>[];
  /** instead of the one scenario `orders`: this many member scenarios in one group (see startGroup) */
  group?: { members: number; switchAllIfAnyFails?: boolean };
  /**
   * Each node runs a stand-in protected service whose pid file its agent's watchdog guards
   * (default true: lease-expiry fencing needs an armed watchdog). `{ beatMs }` makes the service
   * write liveness beats (ProtectedService).
   */
  watchdog?: boolean | { beatMs: number };
  /** runs once the orchestrator is up, before nodes and agents are created (e.g. start a proxy in front of it) */
  beforeAgents?: (cluster: Cluster) => Promise<void>;
}

export interface ClusterMember {
  name: string;
  scenarioId: string;
  record: string;
  production: ClusterNode;
  replica: ClusterNode;
}

export const ZONE = 'ha.test';
export const RECORD = `app.${ZONE}`;

export class Cluster {
  readonly fleet = new AgentFleet();
  readonly nodes: ClusterNode[] = [];
  o!: InProcessOrchestrator;
  worker: ChildOrchestrator | null = null;
  second: ChildOrchestrator | null = null;
  scenarioId = '';
  /** with the `group` option: the member scenarios, and their group */
  readonly members: ClusterMember[] = [];
  groupId = '';
  readonly dir = mkdtempSync(join(tmpdir(), 'ha-cluster-'));

  constructor(readonly opts: ClusterOptions) {}

  get production(): ClusterNode {
    return this.nodes[0];
  }

  get replica(): ClusterNode {
    return this.nodes[1];
  }

  get token(): string {
    return this.o.adminToken;
  }

  api<T = any>(method: string, path: string, body?: unknown) {
    return http<T>(this.o.url, method, path, { token: this.o.adminToken, body });
  }

  async start(): Promise<void> {
    const interval = this.opts.heartbeatIntervalMs ?? 300;
    this.o = await startOrchestrator(this.opts.label, {
      DNS_HOST: '127.0.0.1',
      DNS_PORT: String(this.opts.dnsPort),
      DETECTOR_TICK_MS: '100',
      HEARTBEAT_FLUSH_MS: '500',
      WORKER_LOCK_MS: '2000',
      ...(this.opts.workerProcessPort ? { ORCHESTRATOR_ROLES: 'api,detector,dns' } : {}),
      ...(this.opts.orchestratorEnv ?? {}),
    });
    if (this.opts.workerProcessPort) await this.spawnWorker();
    if (this.opts.secondOrchestrator) await this.spawnSecond();
    await this.opts.beforeAgents?.(this);
    if (this.opts.group) return this.startGroup(interval);
    const count = 1 + (this.opts.replicas ?? 1);
    for (let i = 1; i <= count; i++) {
      const name = i === 1 ? 'prod' : `replica${i - 1}`;
      this.nodes.push(await this.addNode(name, `${this.opts.addressPrefix}${i}`, `s${i}`, interval));
    }
    for (const n of this.nodes) await this.startAgent(n);
    this.scenarioId = await this.createScenario('orders', this.nodes, RECORD, interval);
    // Agents need a heartbeat round trip to learn their scenario and peers.
    await this.waitAgentsKnow(this.scenarioId, this.nodes);
    const started = await this.api('POST', `/api/v1/scenarios/${this.scenarioId}/start`, {
      reason: 'test start',
    });
    if (started.status !== 202) throw new Error(`start failed: ${JSON.stringify(started.body)}`);
    await this.waitState('running');
    await this.waitDns(this.production.address);
  }

  /**
   * `group` option: N member scenarios `member<k>` (DNS name `member<k>.ha.test`), each with its own
   * production (address prefix + 2k-1) and replica (prefix + 2k), all started and in one group.
   * The first member is also `scenarioId` / `production` / `replica`.
   */
  private async startGroup(interval: number): Promise<void> {
    const { members, switchAllIfAnyFails = false } = this.opts.group!;
    for (let k = 1; k <= members; k++) {
      const prod = await this.addNode(`m${k}-prod`, `${this.opts.addressPrefix}${2 * k - 1}`, 's1', interval);
      const replica = await this.addNode(
        `m${k}-replica`,
        `${this.opts.addressPrefix}${2 * k}`,
        's2',
        interval,
      );
      this.nodes.push(prod, replica);
      this.members.push({
        name: `member${k}`,
        scenarioId: '',
        record: `member${k}.${ZONE}`,
        production: prod,
        replica,
      });
    }
    for (const n of this.nodes) await this.startAgent(n);
    for (const m of this.members) {
      m.scenarioId = await this.createScenario(m.name, [m.production, m.replica], m.record, interval);
    }
    this.scenarioId = this.members[0].scenarioId;
    for (const m of this.members) await this.waitAgentsKnow(m.scenarioId, [m.production, m.replica]);
    for (const m of this.members) {
      const started = await this.api('POST', `/api/v1/scenarios/${m.scenarioId}/start`, {
        reason: 'test start',
      });
      if (started.status !== 202) throw new Error(`start failed: ${JSON.stringify(started.body)}`);
    }
    for (const m of this.members) {
      await this.waitState('running', 30000, m.scenarioId);
      await this.waitDns(m.production.address, 30000, m.record);
    }
    const g = await this.api('POST', '/api/v1/groups', {
      name: `${this.opts.label}-group`.toLowerCase(),
      switchAllIfAnyFails,
      scenarioIds: this.members.map((m) => m.scenarioId),
    });
    if (g.status !== 201) throw new Error(`group create failed: ${JSON.stringify(g.body)}`);
    this.groupId = g.body.id;
  }

  private async addNode(name: string, address: string, site: string, interval: number): Promise<ClusterNode> {
    const agentUrl = `http://${address}:${this.opts.agentPort}`;
    const res = await this.api('POST', '/api/v1/nodes', { name, address, agentUrl, labels: { site } });
    if (res.status !== 201) throw new Error(`node create failed: ${JSON.stringify(res.body)}`);
    const dir = join(this.dir, name);
    mkdirSync(dir, { recursive: true });
    const actions: Record<string, unknown> = {};
    for (const action of ['promote', 'demote', 'fence', 'resync', 'start-app', 'stop-app']) {
      const script = writeScript(
        dir,
        `${action}.sh`,
        `#!/bin/sh\n${this.opts.actionDelaySeconds?.[action] ? `sleep ${this.opts.actionDelaySeconds[action]}\n` : ''}` +
          `echo "${action} epoch=$HA_EPOCH step=$HA_STEP_ID" >> "${join(dir, 'actions.log')}"\n` +
          `echo "$(date +%s%N) ${action} epoch=$HA_EPOCH step=$HA_STEP_ID" >> "${join(dir, 'actions.ns.log')}"\nexit 0\n`,
      );
      actions[action] = { command: script, args: [], timeoutMs: 10000 };
    }
    if (this.opts.arActions) {
      for (const action of ['ar-suspend', 'ar-start', 'ar-check', 'ar-snapshot', 'ar-rewind', 'ar-resume']) {
        const f = (suffix: string) => `"${join(dir, `${action}.${suffix}`)}"`;
        const script = writeScript(
          dir,
          `${action}.sh`,
          `#!/bin/sh
[ -f ${f('sleep')} ] && sleep "$(cat ${f('sleep')})"
` +
            `echo "${action} epoch=$HA_EPOCH step=$HA_STEP_ID" >> "${join(dir, 'actions.log')}"
` +
            `echo "${action} on ${name}"
` +
            `[ -f ${f('exit')} ] && exit "$(cat ${f('exit')})"
exit 0
`,
        );
        actions[action] = { command: script, args: [], timeoutMs: 10000 };
      }
    }
    let service: ProtectedService | null = null;
    const wd = this.opts.watchdog ?? true;
    if (wd) {
      service = new ProtectedService(dir, typeof wd === 'object' ? wd : {});
      service.start();
    }
    const config = {
      nodeId: res.body.node.id,
      nodeName: name,
      orchestrators: [this.o.url, ...(this.second ? [this.second.url] : [])],
      token: res.body.agentToken,
      actionToken: res.body.actionToken,
      listen: { host: address, port: this.opts.agentPort },
      heartbeatIntervalMs: interval,
      stateFile: join(dir, 'state.json'),
      actions,
      logLevel: 'warn',
      ...(service && { watchdog: { pidFiles: [service.pidFile] } }),
      ...(this.opts.agentExtra?.(name) ?? {}),
    };
    return {
      name,
      id: res.body.node.id,
      address,
      agentUrl,
      agentToken: res.body.agentToken,
      actionToken: res.body.actionToken,
      dir,
      config,
      agent: null,
      service,
    };
  }

  private async createScenario(
    name: string,
    nodes: ClusterNode[],
    record: string,
    interval: number,
  ): Promise<string> {
    const s = await this.api('POST', '/api/v1/scenarios', {
      name,
      productionNodeId: nodes[0].id,
      replicaNodeIds: nodes.slice(1).map((n) => n.id),
      dnsRecords: [{ zone: ZONE, name: record, type: 'A', ttl: this.opts.recordTtl ?? 1 }],
      failoverMode: this.opts.failoverMode ?? 'auto',
      checks: this.opts.checks ?? [
        { name: 'heartbeat', kind: 'heartbeat', intervalMs: interval, ttlMs: interval * 4 },
      ],
      policy: {
        leaseMs: interval * 5,
        leaseMarginMs: 300,
        holdDownMs: 60000,
        recoveryHoldMs: 2000,
        ...(this.opts.policy ?? {}),
      },
    });
    if (s.status !== 201) throw new Error(`scenario create failed: ${JSON.stringify(s.body)}`);
    return s.body.id;
  }

  private async waitAgentsKnow(scenarioId: string, nodes: ClusterNode[]): Promise<void> {
    await waitFor(
      'agents know their peers',
      async () => {
        for (const n of nodes) {
          const st = await this.agentStatus(n);
          if (!JSON.stringify(st ?? {}).includes(scenarioId)) return false;
        }
        return true;
      },
      20000,
    );
  }

  /** A real orchestrator process with only the worker role, sharing this cluster's schema and Redis prefix. */
  /** The second full orchestrator: same schema and Redis prefix, its own HTTP and DNS ports. */
  async spawnSecond(): Promise<ChildOrchestrator> {
    const { httpPort, dnsPort } = this.opts.secondOrchestrator!;
    this.second = await spawnOrchestrator(
      { ...this.o.env, DNS_PORT: String(dnsPort), LOG_LEVEL: process.env.TEST_LOG_LEVEL ?? 'warn' },
      httpPort,
    );
    return this.second;
  }

  async spawnWorker(): Promise<ChildOrchestrator> {
    this.worker = await spawnOrchestrator(
      { ...this.o.env, ORCHESTRATOR_ROLES: 'worker', LOG_LEVEL: process.env.TEST_LOG_LEVEL ?? 'warn' },
      this.opts.workerProcessPort!,
    );
    return this.worker;
  }

  async startAgent(n: ClusterNode): Promise<AgentProcess> {
    n.agent = await this.fleet.spawn({ dir: n.dir, name: n.name, config: n.config });
    return n.agent;
  }

  async agentStatus(n: ClusterNode): Promise<any> {
    try {
      const r = await fetch(`${n.agentUrl}/status`, {
        headers: { authorization: `Bearer ${n.actionToken}` },
        signal: AbortSignal.timeout(1000),
      });
      return r.ok ? await r.json() : null;
    } catch {
      return null;
    }
  }

  /** Every action run on the node with its start time (CLOCK_REALTIME ns), e.g. to order them across nodes. */
  timedActions(n: ClusterNode): { ns: bigint; line: string }[] {
    const f = join(n.dir, 'actions.ns.log');
    if (!existsSync(f)) return [];
    return readFileSync(f, 'utf8')
      .trim()
      .split('\n')
      .filter(Boolean)
      .map((l) => ({ ns: BigInt(l.slice(0, l.indexOf(' '))), line: l.slice(l.indexOf(' ') + 1) }));
  }

  /**
   * Agent `actions` (for agentExtra) of node `name` whose promote is a batch action: one run for
   * every scenario asking at once, logged to batch.log (batchRuns) with its items appended to
   * batch-items.jsonl (batchItems), then `sleepSeconds` of sleep. demote, fence and resync are the
   * node's usual logging scripts.
   */
  batchPromoteActions(name: string, sleepSeconds = 0): Record<string, unknown> {
    const dir = join(this.dir, name);
    const actions: Record<string, unknown> = {};
    for (const a of ['demote', 'fence', 'resync']) {
      actions[a] = { command: join(dir, `${a}.sh`), args: [], timeoutMs: 10000 };
    }
    const items = join(dir, 'batch-items.jsonl');
    actions.promote = {
      command: writeScript(
        dir,
        'promote-batch.sh',
        `#!/bin/sh\necho "size=$HA_BATCH_SIZE" >> "${join(dir, 'batch.log')}"\n` +
          `cat "$HA_BATCH_FILE" >> "${items}"\necho >> "${items}"\n` +
          `${sleepSeconds > 0 ? `sleep ${sleepSeconds}\n` : ''}exit 0\n`,
      ),
      args: [],
      timeoutMs: 20000,
      batch: true,
    };
    return actions;
  }

  /** One line per run of the node's batch promote script (batchPromoteActions). */
  batchRuns(n: ClusterNode): string[] {
    const f = join(n.dir, 'batch.log');
    return existsSync(f) ? readFileSync(f, 'utf8').trim().split('\n').filter(Boolean) : [];
  }

  /** Every item the node's batch promote script was given, over all its runs. */
  batchItems(n: ClusterNode): { scenarioId: string; stepId: string; epoch: number; operationId: string }[] {
    const f = join(n.dir, 'batch-items.jsonl');
    if (!existsSync(f)) return [];
    return readFileSync(f, 'utf8')
      .split('\n')
      .filter(Boolean)
      .flatMap((l) => JSON.parse(l).items);
  }

  actionsLog(n: ClusterNode): string[] {
    const f = join(n.dir, 'actions.log');
    return existsSync(f) ? readFileSync(f, 'utf8').trim().split('\n').filter(Boolean) : [];
  }

  async scenario(id = this.scenarioId): Promise<any> {
    return (await this.api('GET', `/api/v1/scenarios/${id}`)).body;
  }

  async waitState(state: string, timeoutMs = 30000, id = this.scenarioId): Promise<any> {
    return waitFor(
      `scenario state ${state}`,
      async () => {
        const s = await this.scenario(id);
        return s.state === state ? s : null;
      },
      timeoutMs,
    );
  }

  async dnsAnswer(port = this.opts.dnsPort, name = RECORD): Promise<string[]> {
    const host = this.opts.dnsHost ?? '127.0.0.1';
    const res = await queryServer({ host, port, timeoutMs: 500 }, name, 'A');
    return res.answers.map((a) => (a as { address: string }).address);
  }

  async waitDns(address: string, timeoutMs = 30000, name = RECORD): Promise<void> {
    await waitFor(
      `DNS answer ${address} for ${name}`,
      async () => (await this.dnsAnswer(this.opts.dnsPort, name).catch((): string[] => [])).includes(address),
      timeoutMs,
      20,
    );
  }

  async operations(): Promise<any[]> {
    return (await this.api('GET', `/api/v1/operations?scenarioId=${this.scenarioId}`)).body.items;
  }

  async waitOperation(id: string, timeoutMs = 30000): Promise<any> {
    return waitFor(
      `operation ${id} to finish`,
      async () => {
        const r = await this.api('GET', `/api/v1/operations/${id}`);
        return r.body.state === 'succeeded' || r.body.state === 'failed' ? r.body : null;
      },
      timeoutMs,
    );
  }

  async close(): Promise<void> {
    await this.fleet.stopAll().catch(() => undefined);
    for (const n of this.nodes) n.service?.stop();
    await this.worker?.stop('SIGKILL').catch(() => undefined);
    await this.second?.stop('SIGKILL').catch(() => undefined);
    await this.o?.close().catch(() => undefined);
    rmSync(this.dir, { recursive: true, force: true });
  }
}

/**
 * Agent config for a node that reports as its replication lag whatever number is written in its
 * node directory's `lag` file (0 without one): `agentExtra: (name) => lagFromFile(cluster, name)`.
 */
export function lagFromFile(c: Cluster, name: string): Record<string, unknown> {
  return {
    replicaLag: {
      command: writeScript(
        join(c.dir, name),
        'lag.sh',
        `#!/bin/sh\ncat "${join(c.dir, name, 'lag')}" 2>/dev/null || echo 0\n`,
      ),
      timeoutMs: 1000,
      intervalMs: 300,
    },
  };
}
