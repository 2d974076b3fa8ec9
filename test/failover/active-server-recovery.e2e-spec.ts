import { Cluster } from '../support/cluster';
import { http, waitFor } from '../support/orchestrator';

/**
 * Split state: the replica acts as production too (here: someone ran its promote by hand). The
 * detector raises a split-state alert; an active-server recovery keeps production, fences the
 * replica with a new epoch, and DNS stays on production.
 */
describe('split state and active-server recovery', () => {
  const c = new Cluster({
    label: 'asr',
    addressPrefix: '127.0.0.23',
    agentPort: 17230,
    dnsPort: 15230,
    failoverMode: 'manual',
  });

  beforeAll(async () => {
    await c.start();
  });
  afterAll(async () => {
    await c.close();
  });

  it('detects a second production, then keeps the chosen node and fences the other', async () => {
    // The replica's agent promotes itself at the current epoch (a human on the box, a script gone wrong).
    const promoted = await http(c.replica.agentUrl, 'POST', '/actions/promote', {
      token: c.replica.actionToken,
      body: {
        operationId: '00000000-0000-4000-8000-000000000001',
        stepId: 'manual-promote',
        scenarioId: c.scenarioId,
        epoch: 1,
        deadline: Date.now() + 10_000,
      },
    });
    expect(promoted.status).toBe(200);
    const split = await waitFor(
      'split-state alert',
      async () => {
        const ev = await c.api('GET', `/api/v1/events?scenarioId=${c.scenarioId}&kind=split-state`);
        return ev.body.items[0];
      },
      20000,
    );
    expect(split.message).toMatch(/replica1 acts as production/);
    expect(split.nodeId).toBe(c.replica.id);

    // Bad inputs change nothing.
    const base = `/api/v1/scenarios/${c.scenarioId}/active-server-recovery`;
    expect((await c.api('POST', base, { activeNodeId: c.production.id })).status).toBe(400);
    expect((await c.api('POST', base, { reason: 'x', activeNodeId: 'nope' })).status).toBe(400);
    const stranger = await c.api('POST', base, {
      reason: 'x',
      activeNodeId: '00000000-0000-4000-8000-000000000009',
    });
    expect(stranger.status).toBe(400);
    expect(stranger.body.details.field).toBe('activeNodeId');
    expect((await c.operations()).filter((o) => o.type === 'active-server-recovery')).toHaveLength(0);
    expect(await c.scenario()).toMatchObject({ state: 'running', epoch: 1 });

    const r = await c.api('POST', base, { reason: 'INC-77 keep paris', activeNodeId: c.production.id });
    expect(r.status).toBe(202);
    const op = await c.waitOperation(r.body.id);
    expect(op.state).toBe('succeeded');
    expect(op.steps.map((s: { name: string }) => s.name)).toContain('fence-others');
    expect(await c.scenario()).toMatchObject({ state: 'running', epoch: 2, activeNodeId: c.production.id });
    expect(await c.dnsAnswer()).toEqual([c.production.address]);
    // The replica was fenced with the new epoch and holds `demoted`; production was promoted at epoch 2.
    // (Under load the replica may learn epoch 2 from a heartbeat answer first and demote itself,
    // step self-demote-2, before fence-others reaches it: both at epoch 2, each step once.)
    const [promotedAt1, ...demotes] = c.actionsLog(c.replica);
    expect(promotedAt1).toMatch(/^promote epoch=1 step=manual-promote/);
    expect(demotes.length).toBeGreaterThanOrEqual(1);
    for (const d of demotes) expect(d).toMatch(/^demote epoch=2 /);
    expect(demotes.filter((d) => !/step=self-demote-2\b/.test(d))).toHaveLength(1);
    expect(c.actionsLog(c.production)).toEqual([expect.stringMatching(/^promote epoch=2 /)]);
    await waitFor(
      'replica demoted',
      async () => (await c.agentStatus(c.replica))?.scenarios?.[0]?.role === 'demoted',
    );
  });
});
