/**
 * Maintenance windows with real agents: a window suppresses automatic failover of its scope (the
 * event says why, once), expires on its own and then a still-failed production is failed over; a
 * node in maintenance is never a promotion target; manual operations still work during a window
 * and say so; start and end are announced (events, audit). Plus every bad input → 400/404/409 with
 * nothing written.
 */
import { Cluster } from '../support/cluster';
import { waitFor } from '../support/orchestrator';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('maintenance windows', () => {
  const c = new Cluster({
    label: 'maintenance',
    addressPrefix: '127.0.3.',
    agentPort: 17960,
    dnsPort: 15960,
    replicas: 2,
    failoverMode: 'auto',
    policy: { holdDownMs: 0 },
  });

  beforeAll(() => c.start());
  afterAll(() => c.close());

  const events = async (kind: string) =>
    (await c.api('GET', `/api/v1/events?kind=${kind}&limit=100`)).body.items as {
      message: string;
      scenarioId: string | null;
      nodeId: string | null;
    }[];
  const audit = async (action: string) =>
    (await c.api('GET', `/api/v1/audit?action=${action}&limit=100`)).body.items as {
      actor: string;
      targetId: string;
      reason: string;
      details: Record<string, unknown>;
    }[];
  const windows = async () => (await c.api('GET', '/api/v1/maintenance?limit=500')).body;
  const nodeWindow = (nodeId: string, reason: string, durationSeconds = 600) =>
    c.api('POST', '/api/v1/maintenance', { scopeType: 'node', scopeId: nodeId, reason, durationSeconds });

  it('refuses bad windows with a 4xx naming the field, and writes nothing', async () => {
    const before = (await windows()).total;
    const node = c.replica.id;
    const later = (s: number) => new Date(Date.now() + s * 1000).toISOString();
    const cases: [Record<string, unknown>, string][] = [
      [{ scopeType: 'node', scopeId: node, reason: 'x' }, 'endsAt'],
      [{ scopeType: 'node', scopeId: node, reason: 'x', startsAt: later(600), endsAt: later(300) }, 'endsAt'],
      [{ scopeType: 'node', scopeId: node, reason: 'x', endsAt: later(60), durationSeconds: 60 }, 'endsAt'],
      [
        { scopeType: 'node', scopeId: node, reason: 'x', startsAt: later(-3600), durationSeconds: 60 },
        'startsAt',
      ],
      [{ scopeType: 'node', scopeId: node, reason: 'x', endsAt: later(-10) }, 'endsAt'],
      [{ scopeType: 'node', scopeId: node, reason: 'x', durationSeconds: 31 * 86400 }, 'durationSeconds'],
      [
        {
          scopeType: 'node',
          scopeId: '00000000-0000-4000-8000-000000000000',
          reason: 'x',
          durationSeconds: 60,
        },
        'scopeId',
      ],
      [{ scopeType: 'group', scopeId: node, reason: 'x', durationSeconds: 60 }, 'scopeId'],
      [{ scopeType: 'rack', scopeId: node, reason: 'x', durationSeconds: 60 }, 'scopeType'],
      [{ scopeType: 'node', scopeId: 'db1', reason: 'x', durationSeconds: 60 }, 'scopeId'],
      [{ scopeType: 'node', scopeId: node, durationSeconds: 60 }, 'reason'],
      [{ scopeType: 'node', scopeId: node, reason: 'x', endsAt: 'tomorrow' }, 'endsAt'],
    ];
    for (const [body, field] of cases) {
      const r = await c.api('POST', '/api/v1/maintenance', body);
      expect({ body, status: r.status }).toEqual({ body, status: 400 });
      expect(JSON.stringify(r.body)).toContain(field);
    }
    expect((await c.api('GET', '/api/v1/maintenance/00000000-0000-4000-8000-000000000000')).status).toBe(404);
    expect(
      (await c.api('POST', '/api/v1/maintenance/00000000-0000-4000-8000-000000000000/end', { reason: 'x' }))
        .status,
    ).toBe(404);
    expect((await c.api('POST', '/api/v1/maintenance/not-a-uuid/end', { reason: 'x' })).status).toBe(400);
    expect((await windows()).total).toBe(before);
    expect(await audit('maintenance.create')).toHaveLength(0);
  });

  it('a window on both replicas warns that the scenario has no eligible replica; ended early, it cannot be moved again', async () => {
    const a = await nodeWindow(c.nodes[1].id, 'disk swap');
    expect(a.status).toBe(201);
    expect(a.body.warnings).toEqual([]);
    expect(a.body.impact).toEqual([
      { scenarioId: c.scenarioId, scenarioName: 'orders', effects: ['node is not a promotion target'] },
    ]);
    const b = await nodeWindow(c.nodes[2].id, 'firmware');
    expect(b.status).toBe(201);
    expect(b.body.warnings.join()).toMatch(/orders has no eligible replica/);
    // A failover now has nowhere to go: it fails in its pre-checks and nothing moved.
    const op = await c.api('POST', `/api/v1/scenarios/${c.scenarioId}/switchover`, { reason: 'try' });
    expect(op.status).toBe(202);
    expect(op.body.warnings).toHaveLength(2);
    const done = await c.waitOperation(op.body.id);
    expect(done.state).toBe('failed');
    expect(done.error).toMatch(/in maintenance/);
    expect((await c.scenario()).activeNodeId).toBe(c.production.id);
    expect(await c.dnsAnswer()).toEqual([c.production.address]);
    for (const w of [a.body.window.id, b.body.window.id]) {
      const e = await c.api('POST', `/api/v1/maintenance/${w}/end`, { reason: 'done' });
      expect(e.status).toBe(200);
      expect(e.body.state).toBe('ended');
      expect(e.body.endedBy).toBeTruthy();
      expect((await c.api('POST', `/api/v1/maintenance/${w}/end`, { reason: 'again' })).status).toBe(409);
      expect(
        (await c.api('PATCH', `/api/v1/maintenance/${w}`, { reason: 'more', durationSeconds: 60 })).status,
      ).toBe(409);
    }
    await waitFor('ends announced', async () => (await events('maintenance-ended')).length >= 2, 10000);
    expect((await audit('maintenance.end')).map((x) => x.reason)).toContain('done');
  });

  it('a node in maintenance is skipped as promotion target; a manual switchover during a window works and says so', async () => {
    const w = await nodeWindow(c.nodes[1].id, 'replica1 patching');
    expect(w.status).toBe(201);
    const op = await c.api('POST', `/api/v1/scenarios/${c.scenarioId}/switchover`, {
      reason: 'planned move',
    });
    expect(op.status).toBe(202);
    expect(op.body.warnings.join()).toMatch(/replica1 patching/);
    const done = await c.waitOperation(op.body.id);
    expect(done.state).toBe('succeeded');
    expect(done.params.targetNodeId).toBe(c.nodes[2].id);
    await c.waitDns(c.nodes[2].address);
    // an explicit target in maintenance is refused, too
    const back = await c.api('POST', `/api/v1/scenarios/${c.scenarioId}/failback`, { reason: 'back home' });
    expect((await c.waitOperation(back.body.id)).state).toBe('succeeded');
    const explicit = await c.api('POST', `/api/v1/scenarios/${c.scenarioId}/switchover`, {
      reason: 'to replica1',
      targetNodeId: c.nodes[1].id,
    });
    const refused = await c.waitOperation(explicit.body.id);
    expect(refused.state).toBe('failed');
    expect(refused.error).toMatch(/in maintenance/);
    expect(
      (await c.api('POST', `/api/v1/maintenance/${w.body.window.id}/end`, { reason: 'patched' })).status,
    ).toBe(200);
    const requested = await audit('operation.switchover.requested');
    expect(requested.some((a) => a.reason === 'planned move')).toBe(true);
  });

  it('suppresses the automatic failover of a failed production until the window expires, then fails over', async () => {
    await c.waitState('running');
    const w = await nodeWindow(c.production.id, 'kernel upgrade, reboots expected', 8);
    expect(w.status).toBe(201);
    expect(w.body.impact[0].effects).toEqual(['automatic failover suppressed']);
    await waitFor(
      'start announced',
      async () => (await events('maintenance-started')).some((e) => e.nodeId === c.production.id),
      10000,
    );
    await c.production.agent!.kill();
    const maintenanceSuppressions = async () =>
      (
        (await c.api('GET', `/api/v1/events?scenarioId=${c.scenarioId}&kind=failover-suppressed`)).body
          .items as {
          message: string;
        }[]
      ).filter((e) => /in maintenance/.test(e.message));
    const suppressed = await waitFor(
      'failover suppressed by the window',
      async () => {
        const found = await maintenanceSuppressions();
        return found.length ? found : null;
      },
      15000,
    );
    expect(suppressed[0].message).toContain(w.body.window.id);
    // Checks still run and are shown: the node is failed, and nothing moved.
    const health = await c.api('GET', `/api/v1/nodes/${c.production.id}/health`);
    expect(health.body.verdict).toBe('failed');
    await sleep(1500);
    expect((await c.operations()).filter((o) => o.trigger === 'auto')).toHaveLength(0);
    expect(await c.dnsAnswer()).toEqual([c.production.address]);
    // The suppression is recorded once, not every tick; its decision record says why.
    expect(await maintenanceSuppressions()).toHaveLength(1);
    const decided = (await c.api('GET', `/api/v1/scenarios/${c.scenarioId}/decisions?rule=maintenance`)).body;
    expect(decided.items).toEqual([
      expect.objectContaining({
        outcome: 'suppressed',
        operationId: null,
        message: expect.stringContaining(w.body.window.id),
        evidence: expect.objectContaining({ verdict: 'failed' }),
      }),
    ]);
    // The window expires on its own; production is still dead: automatic failover now.
    await c.waitDns(c.replica.address, 30000);
    const auto = (await c.operations()).filter((o) => o.trigger === 'auto');
    expect(auto).toHaveLength(1);
    const failoverDecisions = (
      await c.api('GET', `/api/v1/scenarios/${c.scenarioId}/decisions?outcome=failover`)
    ).body.items;
    expect(failoverDecisions).toEqual([
      expect.objectContaining({ rule: 'failover', operationId: auto[0].id }),
    ]);
    await waitFor(
      'end announced',
      async () => (await events('maintenance-ended')).some((e) => e.nodeId === c.production.id),
      10000,
    );
    const actions = (await audit('maintenance.start')).concat(await audit('maintenance.end'));
    expect(actions.filter((a) => a.details.windowId === w.body.window.id).map((a) => a.actor)).toEqual([
      'system',
      'system',
    ]);
    const listed = await c.api('GET', `/api/v1/maintenance?state=ended&scopeId=${c.production.id}`);
    expect(listed.body.items[0]).toMatchObject({
      id: w.body.window.id,
      state: 'ended',
      createdBy: expect.any(String),
    });
  });
});
