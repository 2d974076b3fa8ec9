/**
 * Never promote while a replica still hears production: a production cut off from the orchestrators
 * keeps its lease through its peer heartbeats the replica answers, and the replica's heartbeats
 * (its views of production) may not reach us either. A failover that has to wait out production's
 * lease asks each peer directly, once the lease looks expired, how it hears production now.
 *
 * Both agents send their heartbeats through TCP proxies this test cuts; the orchestrator still
 * reaches the agents' APIs and the two agents still reach each other. Production's demote script
 * fails, so the forced failover falls back to lease expiry, as it would for a node whose agent
 * cannot demote it. Without the question to the replica the orchestrator's last contact with
 * production is the cut, its lease looks expired, and the replica is promoted while production's
 * service still runs. Real agents on 127.0.6.11-13 (port 17989), DNS on 15989.
 */
import { writeScript } from '@ha/testing/agent-harness';
import { Cluster, ClusterNode } from '../support/cluster';
import { waitFor } from '../support/orchestrator';
import { TcpProxy } from '../support/tcp-proxy';

jest.setTimeout(120_000);

const INTERVAL = 300;
const LEASE_MS = 1500;

describe('lease-expiry fencing asks the peers of the old production', () => {
  const proxies = new Map<string, TcpProxy>();
  const c = new Cluster({
    label: 'peerlease',
    addressPrefix: '127.0.6.1',
    agentPort: 17989,
    dnsPort: 15989,
    replicas: 2,
    failoverMode: 'manual',
    heartbeatIntervalMs: INTERVAL,
    watchdog: { beatMs: 100 },
    policy: { leaseMs: LEASE_MS, leaseMarginMs: 300, holdDownMs: 0 },
    orchestratorEnv: { DETECTOR_SHARDING: 'false' },
    beforeAgents: async (cluster) => {
      for (const name of ['prod', 'replica1', 'replica2']) {
        const p = new TcpProxy('127.0.0.1', Number(new URL(cluster.o.url).port));
        await p.start();
        proxies.set(name, p);
      }
    },
    agentExtra: (name) => ({ orchestrators: [`http://127.0.0.1:${proxies.get(name)!.port}`] }),
  });

  beforeAll(async () => {
    await c.start();
    // Production's demote fails from now on (the agent runs the script file it was configured with).
    writeScript(c.production.dir, 'demote.sh', 'echo "demote refused" >&2\nexit 1');
  });
  afterAll(async () => {
    await c.close();
    for (const p of proxies.values()) await p.stop();
  });

  const replica2 = (): ClusterNode => c.nodes.find((n) => n.name === 'replica2')!;
  const serviceStopped = (n: ClusterNode): boolean => {
    const beats = n.service!.beats();
    return (
      !n.service!.alive() ||
      beats.length === 0 ||
      Date.now() - Number(beats[beats.length - 1] / 1_000_000n) > 1000
    );
  };

  async function healthy(): Promise<void> {
    await waitFor(
      'every agent heard and production armed',
      async () => {
        const st = await c.agentStatus(c.production);
        return st?.watchdog?.armed === true && st.lastOrchestratorContactMsAgo < 2 * INTERVAL;
      },
      20000,
    );
  }

  function failover(body: Record<string, unknown>) {
    return c.api('POST', `/api/v1/scenarios/${c.scenarioId}/failover`, {
      targetNodeId: c.replica.id,
      force: true,
      reason: 'test: production unreachable',
      ...body,
    });
  }

  it('production heard only by the replicas: no promotion, the failover fails saying so, production keeps serving', async () => {
    await healthy();
    for (const p of proxies.values()) p.cut();
    try {
      // The orchestrator hears nobody now; production still exchanges peer heartbeats.
      await new Promise((r) => setTimeout(r, 2 * INTERVAL));
      const res = await failover({});
      expect(res.status).toBe(202);
      const op = await c.waitOperation(res.body.id, 60000);
      expect(op.state).toBe('failed');
      expect(op.error).toMatch(/still heard from/);
      const fence = op.steps.find((s: { name: string }) => s.name === 'fence');
      expect(fence.state).toBe('failed');
    } finally {
      for (const p of proxies.values()) p.restore();
    }
    expect(c.actionsLog(c.replica).filter((l) => l.startsWith('promote'))).toEqual([]);
    expect(serviceStopped(c.production)).toBe(false);
    expect(await c.dnsAnswer()).toEqual([c.production.address]);
    const st = await c.agentStatus(c.production);
    expect(st.scenarios[0].role).toBe('production');
    expect(st.watchdog.fired).toBe(0);
  });

  it('a peer that cannot be asked blocks lease-expiry fencing; once it answers, the failover proceeds', async () => {
    await healthy();
    // Production really down (agent killed: its watchdog takes the service down at its lease), and
    // replica2's agent stopped: nobody can say whether replica2 still hears production.
    await c.production.agent!.kill();
    await replica2().agent!.kill();
    const res = await failover({});
    expect(res.status).toBe(202);
    const op = await c.waitOperation(res.body.id, 60000);
    expect(op.state).toBe('failed');
    expect(op.error).toMatch(/replica2 could not be asked whether it still hears prod/);
    expect(c.actionsLog(c.replica).filter((l) => l.startsWith('promote'))).toEqual([]);

    // replica2 back: it has heard nothing since its start, which counts as contact (it may have
    // renewed production's lease just before it went down), so the wait runs a lease past it.
    await c.startAgent(replica2());
    const again = await failover({});
    expect(again.status).toBe(202);
    const done = await c.waitOperation(again.body.id, 60000);
    expect(done.state).toBe('succeeded');
    const fence = done.steps.find((s: { name: string }) => s.name === 'fence');
    expect(fence.output).toMatchObject({ fencedBy: 'lease-expiry', watchdogArmed: true });
    expect(Object.keys(fence.output.peersAsked).sort()).toEqual(['replica1', 'replica2']);
    expect(fence.output.peersAsked.replica2.upForMs).toBeGreaterThanOrEqual(LEASE_MS);
    // Production's service was down before the promote.
    const promotedAt = c.timedActions(c.replica).find((a) => a.line.startsWith('promote'))!.ns;
    const beats = c.production.service!.beats();
    expect(beats[beats.length - 1]).toBeLessThan(promotedAt);
    await c.waitDns(c.replica.address);
  });
});
