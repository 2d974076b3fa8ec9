/**
 * Detection shared across three orchestrator instances (one in-process, two child processes, same
 * schema and Redis prefix): each node is evaluated by its owner and backup only and acted on by its
 * owner; agents send heartbeats to those two (the third instance is not even in their config: they
 * learn it from the answers). One instance is killed: its share moves to the backups, no node is
 * falsely failed, agents re-route. Then a production dies: exactly one failover, DNS flips.
 * Agents on 127.0.2.1-6 (port 17280), DNS 15280/15281/15282, HTTP 18281/18282.
 */
import { Cluster } from '../support/cluster';
import { ChildOrchestrator, http, spawnOrchestrator, waitFor } from '../support/orchestrator';

const INTERVAL = 300;

jest.setTimeout(120_000);

interface Members {
  sharding: boolean;
  instanceId: string;
  evaluatedHere: number;
  members: { id: string; url: string; self: boolean; ownedNodes: number; watchedNodes: number }[];
}

describe('detection shared across three instances', () => {
  let third: ChildOrchestrator | null = null;
  /** an instance with the api role only: no member, but it reads the members to answer agents */
  let apiOnly: ChildOrchestrator | null = null;
  const c = new Cluster({
    label: 'sharded',
    addressPrefix: '127.0.2.',
    agentPort: 17280,
    dnsPort: 15280,
    failoverMode: 'auto',
    heartbeatIntervalMs: INTERVAL,
    checks: [{ name: 'heartbeat', kind: 'heartbeat', intervalMs: INTERVAL, ttlMs: 8 * INTERVAL }],
    policy: { leaseMs: 20 * INTERVAL, recoveryHoldMs: 500 },
    group: { members: 3 },
    secondOrchestrator: { httpPort: 18281, dnsPort: 15281 },
    beforeAgents: async (cluster) => {
      third = await spawnOrchestrator(
        { ...cluster.o.env, DNS_PORT: '15282', LOG_LEVEL: process.env.TEST_LOG_LEVEL ?? 'warn' },
        18282,
      );
      apiOnly = await spawnOrchestrator(
        { ...cluster.o.env, ORCHESTRATOR_ROLES: 'api', LOG_LEVEL: process.env.TEST_LOG_LEVEL ?? 'warn' },
        18283,
      );
    },
  });
  const instances = () => [c.o.url, c.second!.url, third!.url];
  const members = async (url: string) =>
    (await http<Members>(url, 'GET', '/api/v1/detection/members', { token: c.token })).body;
  const failovers = async () =>
    ((await c.api('GET', '/api/v1/operations?type=failover&limit=100')).body.items as any[]).filter(
      (o) => o.type === 'failover',
    );
  const failedVerdicts = async () =>
    (
      (await c.api('GET', '/api/v1/events?kind=verdict-changed&limit=200')).body.items as {
        message: string;
      }[]
    ).filter((e) => /→ failed/.test(e.message));

  beforeAll(async () => {
    await c.start();
  });
  afterAll(async () => {
    await third?.stop('SIGKILL').catch(() => undefined);
    await apiOnly?.stop('SIGKILL').catch(() => undefined);
    await c.close();
  });

  it('every instance sees three members; each evaluates only its owned and backup nodes', async () => {
    const views = await waitFor('three members everywhere', async () => {
      const all = await Promise.all(instances().map(members));
      return all.every((m) => m.members.length === 3) ? all : null;
    });
    for (const v of views) {
      expect(v.sharding).toBe(true);
      // 6 nodes: owned counts add up, each node has an owner and a backup.
      expect(v.members.reduce((n, m) => n + m.ownedNodes, 0)).toBe(6);
      expect(v.members.reduce((n, m) => n + m.watchedNodes, 0)).toBe(12);
      const self = v.members.find((m) => m.self)!;
      await waitFor(
        'evaluations settle',
        async () => (await members(self.url)).evaluatedHere === self.watchedNodes,
      );
    }
    // Every agent sends to its owner and backup only, and the third instance gets heartbeats though
    // no agent has it in its config.
    for (const n of c.nodes) {
      const to = await waitFor(`${n.name} routed`, async () => {
        const st = await c.agentStatus(n);
        return st?.heartbeatsTo?.length === 2 ? (st.heartbeatsTo as string[]) : null;
      });
      expect(n.config.orchestrators).not.toContain(third!.url);
      for (const url of to) expect(instances()).toContain(url);
    }
    // An api-only instance is no member, but answers a heartbeat with the same owners.
    const apiView = await members(apiOnly!.url);
    expect(apiView.members.map((m) => m.url).sort()).toEqual([...instances()].sort());
    expect(apiView.members.some((m) => m.url === apiOnly!.url)).toBe(false);
    const n0 = c.nodes[0];
    const answer = await http(apiOnly!.url, 'POST', '/api/v1/heartbeats', {
      token: n0.agentToken,
      body: {
        nodeId: n0.id,
        seq: 1,
        bootId: 'probe-boot',
        agentTime: Date.now(),
        scenarios: [],
        checks: [],
        peerViews: [],
      },
    });
    expect(answer.status).toBe(200);
    const owners = (await c.api('GET', `/api/v1/nodes/${n0.id}/health`)).body.detection.owners;
    expect(answer.body.owners).toEqual(owners);
    // All healthy, as each owner sees it.
    for (const n of c.nodes) {
      const h = await c.api('GET', `/api/v1/nodes/${n.id}/health`);
      expect(h.body.detection.owners).toHaveLength(2);
      const owner = h.body.detection.owners[0] as string;
      const fromOwner = await http(owner, 'GET', `/api/v1/nodes/${n.id}/health`, { token: c.token });
      expect(fromOwner.body).toMatchObject({ verdict: 'healthy', detection: { evaluatedHere: true } });
    }
  });

  it('kill -9 of one instance: its share is taken over, no node is falsely failed, agents re-route', async () => {
    const before = (await failedVerdicts()).length;
    const dead = c.second!.url;
    await c.second!.stop('SIGKILL');
    // Its membership lease (3 s) runs out; the survivors split its nodes.
    await waitFor('two members', async () => (await members(c.o.url)).members.length === 2, 15_000);
    const survivors = [c.o.url, third!.url];
    for (const n of c.nodes) {
      await waitFor(`${n.name} re-routed`, async () => {
        const st = await c.agentStatus(n);
        return st?.heartbeatsTo?.length === 2 && !st.heartbeatsTo.includes(dead);
      });
    }
    // Watch for a while: nothing was failed, no failover started.
    await new Promise((r) => setTimeout(r, 10 * INTERVAL));
    expect((await failedVerdicts()).length).toBe(before);
    expect(await failovers()).toEqual([]);
    for (const n of c.nodes) {
      const owner = (await http(c.o.url, 'GET', `/api/v1/nodes/${n.id}/health`, { token: c.token })).body
        .detection.owners[0] as string;
      expect(survivors).toContain(owner);
      expect(
        (await http(owner, 'GET', `/api/v1/nodes/${n.id}/health`, { token: c.token })).body.verdict,
      ).toBe('healthy');
    }
  });

  it('a production dies after the takeover: one failover, by its owner, DNS flips', async () => {
    const m = c.members[1];
    await m.production.agent!.kill();
    await c.waitDns(m.replica.address, 40_000, m.record);
    const ops = await failovers();
    expect(ops).toHaveLength(1);
    expect(ops[0].scenarioId).toBe(m.scenarioId);
    expect((await c.waitOperation(ops[0].id)).state).toBe('succeeded');
    const verdicts = await waitFor('the failed verdict recorded', async () => {
      const v = (await failedVerdicts()).filter((e) => e.message.startsWith(`${m.production.name}:`));
      return v.length > 0 ? v : null;
    });
    expect(verdicts).toHaveLength(1);
    expect((await c.api('GET', '/api/v1/events?kind=failover-requested&limit=50')).body.items).toHaveLength(
      1,
    );
  });

  it('an instance joins (cold), then two of three die at once: no false failure, the last owns everything', async () => {
    const alive = c.nodes.filter((n) => n !== c.members[1].production);
    // (the production killed above is failed, and a new owner records that again: not counted)
    const falselyFailed = async () =>
      (await failedVerdicts()).filter((e) => alive.some((n) => e.message.startsWith(`${n.name}:`))).length;
    const before = await falselyFailed();
    // A new instance joins with no state: the nodes it now owns start their clock when it does.
    await c.spawnSecond();
    await waitFor('three members again', async () => (await members(c.o.url)).members.length === 3, 15_000);
    for (const n of alive) {
      await waitFor(
        `${n.name} routed to two`,
        async () => (await c.agentStatus(n))?.heartbeatsTo?.length === 2,
      );
    }
    await new Promise((r) => setTimeout(r, 10 * INTERVAL));
    expect(await falselyFailed()).toBe(before);
    // Two of three die at once: the last one takes over the nodes it watched for neither (about a
    // third, as the ids hash), whose agents send to every configured orchestrator once their
    // owners stop answering.
    await Promise.all([c.second!.stop('SIGKILL'), third!.stop('SIGKILL')]);
    third = null;
    await waitFor('one member', async () => (await members(c.o.url)).members.length === 1, 15_000);
    await waitFor(
      'every live node evaluated here and healthy',
      async () => {
        for (const n of alive) {
          const h = (await c.api('GET', `/api/v1/nodes/${n.id}/health`)).body;
          if (h.verdict !== 'healthy' || !h.detection.evaluatedHere) return false;
        }
        return true;
      },
      20_000,
    );
    await new Promise((r) => setTimeout(r, 10 * INTERVAL));
    expect(await falselyFailed()).toBe(before);
    expect(await failovers()).toHaveLength(1);
    for (const n of alive) expect((await c.agentStatus(n)).heartbeatsTo).toEqual([c.o.url]);
  });
});
