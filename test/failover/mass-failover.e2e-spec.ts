/**
 * Mass failover end to end: one host carries many `auto` scenarios and dies. They are created and
 * started with the bulk API, fail over together as one batch (one step job per step for all of
 * them, one batched promote on the replica's agent, DNS written in bulk), count as one incident for
 * the storm brake, and a member whose replica cannot be reached for a while leaves the batch and
 * finishes alone once it can (real agents, PostgreSQL, Redis, DNS).
 */
import { Cluster, ZONE } from '../support/cluster';
import { waitFor } from '../support/orchestrator';
import { TcpProxy } from '../support/tcp-proxy';

const MASS = 30;

describe('mass failover: a host with many scenarios dies (bulk API, batches, real agents)', () => {
  let proxy: TcpProxy;
  const c: Cluster = new Cluster({
    label: 'massfail',
    addressPrefix: '127.0.0.3',
    agentPort: 17310,
    dnsPort: 15310,
    replicas: 2,
    // One incident (one dead host) must not engage a brake that allows a single failover.
    orchestratorEnv: { STORM_MAX_FAILOVERS: '1' },
    policy: { holdDownMs: 0 },
    // replica1 promotes in batches: one run of its script for every scenario asking at once.
    agentExtra: (name) => (name === 'replica1' ? { actions: c.batchPromoteActions(name) } : {}),
  });
  const ids: string[] = [];
  let lonely = '';
  const record = (i: number) => `mass${i}.${ZONE}`;

  beforeAll(async () => {
    await c.start();
    const [prod, replica1, replica2] = c.nodes;
    // replica2's agent API goes through a proxy the test can cut (its heartbeats do not).
    proxy = new TcpProxy(replica2.address, c.opts.agentPort);
    await proxy.start();
    const patched = await c.api('PATCH', `/api/v1/nodes/${replica2.id}`, {
      agentUrl: `http://127.0.0.1:${proxy.port}`,
    });
    expect(patched.status).toBe(200);
    const scenario = (name: string, replica: string, dns: string) => ({
      name,
      productionNodeId: prod.id,
      replicaNodeIds: [replica],
      dnsRecords: [{ zone: ZONE, name: dns, type: 'A', ttl: 1 }],
      failoverMode: 'auto',
      checks: [{ name: 'heartbeat', kind: 'heartbeat', intervalMs: 300, ttlMs: 1200 }],
      policy: { leaseMs: 1500, leaseMarginMs: 300, holdDownMs: 0, recoveryHoldMs: 2000 },
    });
    const created = await c.api('POST', '/api/v1/scenarios/bulk', {
      scenarios: [
        ...Array.from({ length: MASS }, (_, i) => scenario(`mass-${i}`, replica1.id, record(i))),
        scenario('lonely', replica2.id, `lonely.${ZONE}`),
      ],
    });
    expect(created.status).toBe(201);
    expect(created.body.items).toHaveLength(MASS + 1);
    expect(created.body.items.every((s: any) => s.state === 'stopped')).toBe(true);
    ids.push(...created.body.items.slice(0, MASS).map((s: any) => s.id));
    lonely = created.body.items[MASS].id;
    await waitFor(
      'agents know the new scenarios',
      async () => {
        const knows = async (n: typeof prod, id: string) =>
          JSON.stringify((await c.agentStatus(n)) ?? {}).includes(id);
        return (
          (await knows(prod, lonely)) &&
          (await knows(prod, ids[MASS - 1])) &&
          (await knows(replica1, ids[MASS - 1])) &&
          (await knows(replica2, lonely))
        );
      },
      20000,
    );
    const started = await c.api('POST', '/api/v1/scenarios/bulk/start', {
      scenarioIds: [...ids, lonely],
      reason: 'mass test',
    });
    expect(started.status).toBe(202);
    expect(started.body).toMatchObject({ accepted: MASS + 1, refused: 0 });
    await waitFor(
      'every scenario running',
      async () =>
        (await c.api('GET', '/api/v1/scenarios?state=running&limit=1')).body.total === MASS + 2 || null,
      30000,
    );
    for (let i = 0; i < MASS; i++) await c.waitDns(prod.address, 10000, record(i));
    // Every agent holds its role before production dies (peer heartbeats, leases).
    await waitFor(
      'roles settled',
      async () => {
        const st = await c.agentStatus(replica1);
        return st?.scenarios?.filter((s: any) => s.role === 'replica').length >= MASS + 1;
      },
      15000,
    );
  });
  afterAll(async () => {
    await proxy?.stop();
    await c.close();
  });

  it('kill -9 of the host → every scenario flips as one batch and one incident; a member whose replica is unreachable retries alone', async () => {
    const [prod, replica1, replica2] = c.nodes;
    proxy.cut();
    await prod.agent!.kill();
    for (let i = 0; i < MASS; i++) await c.waitDns(replica1.address, 30000, record(i));
    await c.waitDns(replica1.address, 30000);
    // The main scenario's lease wait could not ask replica2's agent (its API is cut): it took
    // replica2's word from the heartbeats it sent after the question.
    const mainOp = (await c.api('GET', `/api/v1/operations?scenarioId=${c.scenarioId}&type=failover`)).body
      .items[0];
    const mainFence = (await c.api('GET', `/api/v1/operations/${mainOp.id}`)).body.steps.find(
      (s: { name: string }) => s.name === 'fence',
    );
    expect(mainFence.output).toMatchObject({
      fencedBy: 'lease-expiry',
      peersAsked: { replica1: expect.any(Object), replica2: expect.objectContaining({ from: 'heartbeat' }) },
    });

    // lonely's replica is still cut off: its failover waits, alone, and completes once it is back.
    const opOf = async (scenarioId: string) =>
      (await c.api('GET', `/api/v1/operations?scenarioId=${scenarioId}&type=failover`)).body.items[0];
    const waiting = await waitFor('lonely failover requested', () => opOf(lonely), 10000);
    expect(waiting.state).toBe('running');
    expect(waiting.batchId).toBeNull();
    proxy.restore();
    await c.waitDns(replica2.address, 30000, `lonely.${ZONE}`);
    const lonelyOp = await c.waitOperation(waiting.id);
    expect(lonelyOp.state).toBe('succeeded');
    expect(lonelyOp.steps.find((s: any) => s.name === 'pre-checks').attempts).toBeGreaterThan(1);

    // The others: one batch, every operation succeeded.
    const ops = await Promise.all([...ids, c.scenarioId].map(opOf));
    const done = await Promise.all(ops.map((op) => c.waitOperation(op.id)));
    expect(done.every((op) => op.state === 'succeeded' && op.trigger === 'auto')).toBe(true);
    const batches = new Set(ops.map((op) => op.batchId));
    expect(batches.size).toBe(1);
    expect([...batches][0]).toEqual(expect.any(String));

    // One incident for the brake (budget 1): not engaged, although 32 automatic failovers ran.
    const brake = (await c.api('GET', '/api/v1/storm-brake')).body;
    expect(brake).toMatchObject({ engaged: false, recentIncidents: 1, recentAutomaticFailovers: MASS + 2 });

    // replica1 promoted all 31 in fewer runs than scenarios, each scenario exactly once.
    expect(c.batchRuns(replica1).length).toBeLessThan(MASS + 1);
    const items = c.batchItems(replica1);
    const promoted = items.map((x) => x.scenarioId).sort();
    expect(promoted).toEqual([...ids, c.scenarioId].sort());
    expect(items.every((x) => x.epoch >= 2 && x.stepId.length > 0)).toBe(true);
    // Each scenario is production on replica1 at its new epoch.
    const st = await c.agentStatus(replica1);
    for (const op of done) {
      const role = st.scenarios.find((s: any) => s.scenarioId === op.scenarioId);
      expect(role).toMatchObject({ role: 'production', epoch: op.epoch });
    }
    // lonely was promoted on replica2 only, once.
    expect(c.actionsLog(replica2).filter((l) => l.startsWith('promote'))).toHaveLength(1);
    expect(c.batchRuns(replica2)).toEqual([]);
  });
});
