/**
 * A real network partition: the production agent runs in its own network namespace, linked to
 * this host by a veth pair; iptables inside the namespace drops everything. Production is then cut
 * off from every orchestrator AND every peer, so its agent must demote itself after the lease, and
 * the orchestrator must promote the replica only after that: never two actives.
 */
import { ChildProcess, execFileSync, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  AGENT_MAIN,
  ProtectedService,
  killWatchdogOf,
  writeScript,
} from '../../libs/testing/src/agent-harness';
import { queryServer } from '../../apps/orchestrator/src/dns/embedded/dns-query';
import { http, InProcessOrchestrator, startOrchestrator, waitFor } from '../support/orchestrator';

const NET = '10.213.7';
const HOST_IP = `${NET}.1`;
const PROD_IP = `${NET}.2`;
const DNS_PORT = 15170;
const RECORD = 'app.partition.test';

const sh = (cmd: string, args: string[]) => execFileSync(cmd, args, { stdio: 'pipe' }).toString();

describe('real partition of production (network namespace + iptables)', () => {
  const tag = randomBytes(3).toString('hex');
  const ns = `hap${tag}`;
  const vethHost = `vh${tag}`;
  const vethNs = `vp${tag}`;
  const dir = mkdtempSync(join(tmpdir(), 'ha-partition-'));
  const children: ChildProcess[] = [];
  const services: ProtectedService[] = [];
  const configs: string[] = [];
  let o: InProcessOrchestrator;

  const api = (method: string, path: string, body?: unknown) =>
    http(o.url, method, path, { token: o.adminToken, body });
  const log = (name: string) => {
    const f = join(dir, name, 'actions.log');
    return existsSync(f) ? readFileSync(f, 'utf8').trim().split('\n').filter(Boolean) : [];
  };
  const answer = async () =>
    (await queryServer({ host: '127.0.0.1', port: DNS_PORT, timeoutMs: 300 }, RECORD, 'A')).answers.map(
      (a) => (a as { address: string }).address,
    );

  beforeAll(async () => {
    sh('ip', ['netns', 'add', ns]);
    sh('ip', ['link', 'add', vethHost, 'type', 'veth', 'peer', 'name', vethNs]);
    sh('ip', ['link', 'set', vethNs, 'netns', ns]);
    sh('ip', ['addr', 'add', `${HOST_IP}/30`, 'dev', vethHost]);
    sh('ip', ['link', 'set', vethHost, 'up']);
    sh('ip', ['netns', 'exec', ns, 'ip', 'addr', 'add', `${PROD_IP}/30`, 'dev', vethNs]);
    sh('ip', ['netns', 'exec', ns, 'ip', 'link', 'set', vethNs, 'up']);
    sh('ip', ['netns', 'exec', ns, 'ip', 'link', 'set', 'lo', 'up']);
    o = await startOrchestrator('partition', {
      HTTP_HOST: HOST_IP,
      DNS_HOST: '127.0.0.1',
      DNS_PORT: String(DNS_PORT),
      DETECTOR_TICK_MS: '100',
      WORKER_LOCK_MS: '2000',
    });
  });

  afterAll(async () => {
    for (const c of children) if (c.exitCode === null) c.kill('SIGKILL');
    for (const f of configs) killWatchdogOf(f);
    for (const svc of services) svc.stop();
    await o?.close();
    try {
      sh('ip', ['netns', 'del', ns]);
    } catch {
      /* already gone */
    }
    try {
      sh('ip', ['link', 'del', vethHost]);
    } catch {
      /* removed with the namespace */
    }
    rmSync(dir, { recursive: true, force: true });
  });

  async function agent(name: string, address: string, port: number, inNamespace: boolean) {
    const node = await api('POST', '/api/v1/nodes', { name, address, agentUrl: `http://${address}:${port}` });
    expect(node.status).toBe(201);
    const nodeDir = join(dir, name);
    mkdirSync(nodeDir);
    const actions: Record<string, unknown> = {};
    for (const a of ['promote', 'demote']) {
      // Nanosecond wall-clock timestamps: both agents share this machine's clock.
      const script = writeScript(
        nodeDir,
        `${a}.sh`,
        `#!/bin/sh\necho "${a} $(date +%s%N) epoch=$HA_EPOCH step=$HA_STEP_ID" >> "${join(nodeDir, 'actions.log')}"\n`,
      );
      actions[a] = { command: script, args: [], timeoutMs: 5000 };
    }
    // The service the agent protects; its watchdog kills it when the lease runs out unrenewed.
    const service = new ProtectedService(nodeDir);
    service.start();
    services.push(service);
    const config = join(nodeDir, 'agent.json');
    configs.push(config);
    writeFileSync(
      config,
      JSON.stringify({
        nodeId: node.body.node.id,
        nodeName: name,
        orchestrators: [o.url],
        token: node.body.agentToken,
        actionToken: node.body.actionToken,
        listen: { host: address, port },
        heartbeatIntervalMs: 300,
        stateFile: join(nodeDir, 'state.json'),
        actions,
        watchdog: { pidFiles: [service.pidFile] },
        logLevel: 'warn',
      }),
    );
    const cmd = inNamespace ? 'ip' : process.execPath;
    const args = inNamespace
      ? ['netns', 'exec', ns, process.execPath, AGENT_MAIN, '--config', config]
      : [AGENT_MAIN, '--config', config];
    const child = spawn(cmd, args, { stdio: 'ignore' });
    children.push(child);
    return { id: node.body.node.id as string, actionToken: node.body.actionToken as string, child, service };
  }

  it('production cut off from everyone demotes itself before the replica is promoted', async () => {
    const prod = await agent('prod', PROD_IP, 17170, true);
    const replica = await agent('replica', HOST_IP, 17171, false);
    const s = await api('POST', '/api/v1/scenarios', {
      name: 'partitioned',
      productionNodeId: prod.id,
      replicaNodeIds: [replica.id],
      dnsRecords: [{ zone: 'partition.test', name: RECORD, type: 'A', ttl: 1 }],
      failoverMode: 'auto',
      checks: [{ name: 'heartbeat', kind: 'heartbeat', intervalMs: 300, ttlMs: 1200 }],
      // Lease longer than the TTL: the orchestrator must wait it out after deciding.
      policy: { leaseMs: 2500, leaseMarginMs: 300, holdDownMs: 60000, recoveryHoldMs: 2000 },
    });
    expect(s.status).toBe(201);
    const status = async (address: string, port: number, token: string) => {
      const r = await fetch(`http://${address}:${port}/status`, {
        headers: { authorization: `Bearer ${token}` },
        signal: AbortSignal.timeout(1000),
      }).catch(() => null);
      return r?.ok ? ((await r.json()) as { scenarios: { role: string; epoch: number }[] }) : null;
    };
    await waitFor(
      'agents hold their roles',
      async () => {
        const p = await status(PROD_IP, 17170, prod.actionToken);
        const r = await status(HOST_IP, 17171, replica.actionToken);
        return p?.scenarios[0]?.role === 'production' && r?.scenarios[0]?.role === 'replica';
      },
      20000,
    );
    const started = await api('POST', `/api/v1/scenarios/${s.body.id}/start`, { reason: 'partition test' });
    expect(started.status).toBe(202);
    await waitFor(
      'DNS → production',
      async () => (await answer().catch((): string[] => [])).includes(PROD_IP),
      20000,
    );
    // Let the agents exchange peer heartbeats for a while.
    await new Promise((r) => setTimeout(r, 1500));

    // Partition: nothing in or out of the production namespace.
    sh('ip', ['netns', 'exec', ns, 'iptables', '-A', 'INPUT', '-i', vethNs, '-j', 'DROP']);
    sh('ip', ['netns', 'exec', ns, 'iptables', '-A', 'OUTPUT', '-o', vethNs, '-j', 'DROP']);

    await waitFor(
      'DNS → replica',
      async () => (await answer().catch((): string[] => [])).includes(HOST_IP),
      30000,
      20,
    );
    const demote = log('prod').find((l) => l.startsWith('demote'));
    const promote = log('replica').find((l) => l.startsWith('promote'));
    expect(demote).toMatch(/step=self-fence/);
    expect(promote).toMatch(/epoch=2/);
    const ts = (line: string) => BigInt(line.split(' ')[1]);
    // The safety property: the old production stopped acting as production before the new one started.
    expect(ts(demote!) < ts(promote!)).toBe(true);
    const ops = await api('GET', `/api/v1/operations?scenarioId=${s.body.id}&type=failover`);
    const op = await waitFor('failover done', async () => {
      const r = await api('GET', `/api/v1/operations/${ops.body.items[0].id}`);
      return r.body.state === 'succeeded' ? r.body : null;
    });
    expect(op.steps.find((x: { name: string }) => x.name === 'fence').output).toMatchObject({
      fencedBy: 'lease-expiry',
      watchdogArmed: true,
    });
    // Cut off for the lease, its watchdog took the service down too; the replica's runs on.
    expect(prod.service.alive()).toBe(false);
    expect(replica.service.alive()).toBe(true);

    // Heal: the old production hears epoch 2 and stays demoted; DNS stays on the replica.
    sh('ip', ['netns', 'exec', ns, 'iptables', '-F']);
    await waitFor(
      'old production back, demoted at epoch 2',
      async () => {
        const p = await status(PROD_IP, 17170, prod.actionToken);
        return p?.scenarios[0]?.role === 'demoted' && p.scenarios[0].epoch === 2;
      },
      20000,
    );
    expect(await answer()).toEqual([HOST_IP]);
    expect(log('prod').filter((l) => l.startsWith('demote'))).toHaveLength(1);
    expect(log('prod').some((l) => l.startsWith('promote'))).toBe(false);
  });
});
