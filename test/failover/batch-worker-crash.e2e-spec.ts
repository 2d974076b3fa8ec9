/**
 * A worker killed in the middle of a batch: a host with many scenarios died and the worker running
 * their batch's promote step (one batched call to the replica's agent, whose batch script takes
 * 2 s) is SIGKILLed. Another worker takes the batch job over (BullMQ stalled-job recovery), sends
 * the same steps again, and the agent answers them from its step log or joins the run in flight:
 * every scenario is promoted exactly once and every operation succeeds (real agents, worker
 * processes, PostgreSQL, Redis, DNS).
 */
import { Cluster, ZONE } from '../support/cluster';
import { waitFor } from '../support/orchestrator';

const MASS = 15;

describe('a worker killed in the middle of a batch step', () => {
  const c: Cluster = new Cluster({
    label: 'batchcrash',
    addressPrefix: '127.0.0.2',
    agentPort: 17320,
    dnsPort: 15320,
    workerProcessPort: 18320,
    policy: { holdDownMs: 0 },
    agentExtra: (name) => (name === 'replica1' ? { actions: c.batchPromoteActions(name, 2) } : {}),
  });
  const ids: string[] = [];
  const record = (i: number) => `crash${i}.${ZONE}`;

  beforeAll(async () => {
    await c.start();
    const created = await c.api('POST', '/api/v1/scenarios/bulk', {
      scenarios: Array.from({ length: MASS }, (_, i) => ({
        name: `crash-${i}`,
        productionNodeId: c.production.id,
        replicaNodeIds: [c.replica.id],
        dnsRecords: [{ zone: ZONE, name: record(i), type: 'A', ttl: 1 }],
        failoverMode: 'auto',
        checks: [{ name: 'heartbeat', kind: 'heartbeat', intervalMs: 300, ttlMs: 1200 }],
        policy: { leaseMs: 1500, leaseMarginMs: 300, holdDownMs: 0, recoveryHoldMs: 2000 },
      })),
    });
    expect(created.status).toBe(201);
    ids.push(...created.body.items.map((s: any) => s.id));
    await waitFor(
      'agents know the new scenarios',
      async () =>
        JSON.stringify((await c.agentStatus(c.replica)) ?? {}).includes(ids[MASS - 1]) &&
        JSON.stringify((await c.agentStatus(c.production)) ?? {}).includes(ids[MASS - 1]),
      20000,
    );
    const started = await c.api('POST', '/api/v1/scenarios/bulk/start', {
      scenarioIds: ids,
      reason: 'crash test',
    });
    expect(started.body).toMatchObject({ accepted: MASS, refused: 0 });
    for (let i = 0; i < MASS; i++) await c.waitDns(c.production.address, 20000, record(i));
    await waitFor(
      'roles settled',
      async () =>
        (await c.agentStatus(c.replica))?.scenarios?.filter((s: any) => s.role === 'replica').length >=
        MASS + 1,
      15000,
    );
  });
  afterAll(async () => {
    await c.close();
  });

  it('kill -9 of the worker while the batched promote runs → another worker finishes the batch; each scenario promoted once', async () => {
    await c.production.agent!.kill();
    // The batch's promote is running on the replica (its script sleeps 2 s): kill the worker now.
    await waitFor('batched promote started', async () => c.batchRuns(c.replica).length > 0, 30000, 20);
    await c.worker!.stop('SIGKILL');
    expect(await c.dnsAnswer(c.opts.dnsPort, record(0))).toEqual([c.production.address]);
    await c.spawnWorker();

    for (let i = 0; i < MASS; i++) await c.waitDns(c.replica.address, 60000, record(i));
    await c.waitDns(c.replica.address, 60000);
    const opOf = async (scenarioId: string) =>
      (await c.api('GET', `/api/v1/operations?scenarioId=${scenarioId}&type=failover`)).body.items[0];
    const ops = await Promise.all([...ids, c.scenarioId].map(opOf));
    const done = await Promise.all(ops.map((op) => c.waitOperation(op.id, 60000)));
    expect(done.map((op) => op.state)).toEqual(done.map(() => 'succeeded'));
    // The promote step of the batch ran twice (the killed worker's attempt and the survivor's).
    expect(done.every((op) => op.steps.find((s: any) => s.name === 'promote').attempts >= 2)).toBe(true);
    // …but the replica ran each scenario's promote once: the second call was answered, not re-run.
    const items = c.batchItems(c.replica);
    expect(items.map((x) => x.scenarioId).sort()).toEqual([...ids, c.scenarioId].sort());
    const st = await c.agentStatus(c.replica);
    for (const op of done) {
      expect(st.scenarios.find((s: any) => s.scenarioId === op.scenarioId)).toMatchObject({
        role: 'production',
        epoch: op.epoch,
      });
    }
  });
});
