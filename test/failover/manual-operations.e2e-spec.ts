import { Cluster } from '../support/cluster';
import { http, waitFor } from '../support/orchestrator';

describe('manual failover, failback and switchover (real agents, PostgreSQL, Redis, DNS)', () => {
  const c = new Cluster({
    label: 'manualops',
    addressPrefix: '127.0.0.5',
    agentPort: 17510,
    dnsPort: 15510,
    failoverMode: 'manual',
  });

  beforeAll(async () => {
    await c.start();
  });
  afterAll(async () => {
    await c.close();
  });

  const post = (op: string, body: unknown) => c.api('POST', `/api/v1/scenarios/${c.scenarioId}/${op}`, body);

  it('refuses a failover without a reason (400) and changes nothing', async () => {
    const r = await post('failover', {});
    expect(r.status).toBe(400);
    expect(r.body.message).toMatch(/reason/);
    const bad = await post('failover', { reason: 'x', force: 'yes' });
    expect(bad.status).toBe(400);
    expect(bad.body.message).toMatch(/force/);
    const active = await post('failover', { reason: 'x', targetNodeId: c.production.id });
    expect(active.status).toBe(400);
    expect(active.body.message).toMatch(/already the active node/);
    const stranger = await post('failover', {
      reason: 'x',
      targetNodeId: '00000000-0000-4000-8000-000000000009',
    });
    expect(stranger.status).toBe(400);
    expect(stranger.body.details.field).toBe('targetNodeId');
    expect(await c.scenario()).toMatchObject({ state: 'running', epoch: 1 });
    expect((await c.operations()).filter((o) => o.type === 'failover')).toHaveLength(0);
  });

  it('manual failover fences production through its agent, promotes the replica, moves DNS', async () => {
    const r = await post('failover', { reason: 'maintenance window 42' });
    expect(r.status).toBe(202);
    const op = await c.waitOperation(r.body.id);
    expect(op.state).toBe('succeeded');
    expect(op.steps.find((s: any) => s.name === 'fence').output.fencedBy).toBe('agent');
    expect(await c.dnsAnswer()).toEqual([c.replica.address]);
    expect(await c.scenario()).toMatchObject({ state: 'failed_over', epoch: 2, activeNodeId: c.replica.id });
    expect(c.actionsLog(c.production)).toEqual([expect.stringMatching(/^demote epoch=2 /)]);
    expect(c.actionsLog(c.replica)).toEqual([expect.stringMatching(/^promote epoch=2 /)]);
  });

  it('a second operation while one runs gets 409 with the running operation id', async () => {
    const first = await post('failback', { reason: 'production repaired' });
    expect(first.status).toBe(202);
    const second = await post('switchover', { reason: 'oops' });
    expect(second.status).toBe(409);
    expect(second.body.details.operationId).toBe(first.body.id);
    const op = await c.waitOperation(first.body.id);
    expect(op.state).toBe('succeeded');
    // failback: resync old production, demote the active replica, promote production, DNS back.
    expect(op.steps.map((s: any) => s.name)).toEqual([
      'lock-epoch',
      'pre-checks',
      'resync',
      'demote-active',
      'promote',
      'redirect-dns',
      'verify-dns',
      'verify-clients',
      'post-checks',
      'notify',
      'audit',
    ]);
    expect(await c.dnsAnswer()).toEqual([c.production.address]);
    expect(await c.scenario()).toMatchObject({ state: 'running', epoch: 3, activeNodeId: c.production.id });
    expect(c.actionsLog(c.production).slice(1)).toEqual([
      expect.stringMatching(/^resync epoch=3 /),
      expect.stringMatching(/^promote epoch=3 /),
    ]);
    expect(c.actionsLog(c.replica).slice(1)).toEqual([expect.stringMatching(/^demote epoch=3 /)]);
  });

  it('switchover demotes production cleanly first; a replayed Idempotency-Key starts nothing new', async () => {
    const send = () =>
      http(c.o.url, 'POST', `/api/v1/scenarios/${c.scenarioId}/switchover`, {
        token: c.token,
        body: { reason: 'planned' },
        headers: { 'idempotency-key': 'change-4711-switchover' },
      });
    const r = await send();
    expect(r.status).toBe(202);
    const replay = await send();
    expect(replay.status).toBe(202);
    expect(replay.body.id).toBe(r.body.id);
    expect(replay.headers.get('idempotent-replayed')).toBe('true');
    expect((await c.operations()).filter((o) => o.type === 'switchover')).toHaveLength(1);
    const op = await c.waitOperation(r.body.id);
    expect(op.state).toBe('succeeded');
    expect(await c.dnsAnswer()).toEqual([c.replica.address]);
    expect(await c.scenario()).toMatchObject({ state: 'failed_over', epoch: 4, activeNodeId: c.replica.id });
    const failback = await c.waitOperation((await post('failback', { reason: 'back' })).body.id);
    expect(failback.state).toBe('succeeded');
    expect(await c.dnsAnswer()).toEqual([c.production.address]);
  });

  it('manual mode: a dead production raises an alert and waits; failover needs force when production is unreachable', async () => {
    await c.production.agent!.kill();
    const alert = await waitFor(
      'alert event',
      async () => {
        const ev = await c.api('GET', `/api/v1/events?scenarioId=${c.scenarioId}&kind=alert`);
        return ev.body.items[0];
      },
      30000,
    );
    expect(alert.message).toMatch(/manual mode/);
    expect((await c.scenario()).state).toBe('running');
    expect(await c.dnsAnswer()).toEqual([c.production.address]);

    const noForce = await c.waitOperation((await post('failover', { reason: 'prod dead' })).body.id);
    expect(noForce.state).toBe('failed');
    expect(noForce.error).toMatch(/force/);
    expect(await c.dnsAnswer()).toEqual([c.production.address]);
    expect((await c.scenario()).state).toBe('degraded');

    const forced = await c.waitOperation(
      (await post('failover', { reason: 'prod dead', force: true })).body.id,
    );
    expect(forced.state).toBe('succeeded');
    expect(forced.steps.find((s: any) => s.name === 'fence').output.fencedBy).toBe('lease-expiry');
    expect(await c.dnsAnswer()).toEqual([c.replica.address]);
  });
});
