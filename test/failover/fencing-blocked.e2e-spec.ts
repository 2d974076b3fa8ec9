/**
 * Lease expiry counts as fencing only behind an armed watchdog. Agents here run without one:
 * a dead production is not failed over automatically (one `failover-blocked` alert, scenario and
 * DNS untouched); a forced manual failover stops at `fence` with `fencing_blocked`; an operator who
 * confirms the node is down (`force` + `confirmFenced`) gets the failover, audited. A scenario whose
 * policy opts out (`requireWatchdog: false`) keeps the old lease-only behaviour.
 */
import { Cluster } from '../support/cluster';
import { waitFor } from '../support/orchestrator';

describe('no armed watchdog: lease expiry alone never promotes', () => {
  const c = new Cluster({
    label: 'fenceblk',
    addressPrefix: '127.0.0.20',
    agentPort: 17260,
    dnsPort: 15260,
    watchdog: false,
  });
  beforeAll(() => c.start());
  afterAll(() => c.close());

  it('a dead production without a watchdog: one failover-blocked alert, no operation, DNS stays', async () => {
    await waitFor(
      'agent reports no watchdog',
      async () => {
        const st = await c.agentStatus(c.production);
        return st?.watchdog?.mode === 'none' && st.watchdog.armed === false;
      },
      10000,
    );
    await c.production.agent!.kill();
    const blocked = await waitFor(
      'failover-blocked alert',
      async () => {
        const ev = await c.api('GET', `/api/v1/events?scenarioId=${c.scenarioId}&kind=failover-blocked`);
        return ev.body.items.length > 0 ? ev.body.items : null;
      },
      20000,
    );
    expect(blocked[0]).toMatchObject({ severity: 'critical', nodeId: c.production.id });
    expect(blocked[0].message).toMatch(/no armed watchdog/);
    await new Promise((r) => setTimeout(r, 3000)); // many detector ticks later
    const ev = await c.api('GET', `/api/v1/events?scenarioId=${c.scenarioId}&kind=failover-blocked`);
    expect(ev.body.items).toHaveLength(1);
    expect((await c.operations()).filter((o) => o.type === 'failover')).toHaveLength(0);
    expect(await c.scenario()).toMatchObject({ state: 'running', epoch: 1, activeNodeId: c.production.id });
    expect(await c.dnsAnswer()).toEqual([c.production.address]);
  });

  it('confirmFenced without force → 400 naming the field, nothing starts', async () => {
    const r = await c.api('POST', `/api/v1/scenarios/${c.scenarioId}/failover`, {
      reason: 'INC-1 prod dead',
      confirmFenced: true,
    });
    expect(r.status).toBe(400);
    expect(JSON.stringify(r.body)).toContain('confirmFenced');
    expect((await c.operations()).filter((o) => o.type === 'failover')).toHaveLength(0);
  });

  it('a forced failover stops at fence with fencing_blocked; nothing promoted, DNS unchanged', async () => {
    const r = await c.api('POST', `/api/v1/scenarios/${c.scenarioId}/failover`, {
      reason: 'INC-1 prod dead',
      force: true,
    });
    expect(r.status).toBe(202);
    const op = await c.waitOperation(r.body.id);
    expect(op.state).toBe('failed');
    const fence = op.steps.find((s: { name: string }) => s.name === 'fence');
    expect(fence.state).toBe('failed');
    expect(op.error).toMatch(/no armed watchdog/);
    expect(op.steps.find((s: { name: string }) => s.name === 'promote').state).not.toBe('done');
    expect(c.actionsLog(c.replica).some((l) => l.startsWith('promote'))).toBe(false);
    expect(await c.dnsAnswer()).toEqual([c.production.address]);
  });

  it('force + confirmFenced (the operator powered it off): fenced by lease expiry, promoted, audited', async () => {
    const r = await c.api('POST', `/api/v1/scenarios/${c.scenarioId}/failover`, {
      reason: 'INC-1 db1 powered off at the PDU',
      force: true,
      confirmFenced: true,
    });
    expect(r.status).toBe(202);
    const op = await c.waitOperation(r.body.id);
    expect(op.state).toBe('succeeded');
    const fence = op.steps.find((s: { name: string }) => s.name === 'fence');
    expect(fence.output).toMatchObject({
      fencedBy: 'lease-expiry',
      watchdogArmed: false,
      confirmedByOperator: true,
    });
    await c.waitDns(c.replica.address);
    const audit = await c.api('GET', `/api/v1/audit?targetId=${c.scenarioId}`);
    const requested = audit.body.items.find(
      (a: { action: string; reason: string }) =>
        a.action === 'operation.failover.requested' && a.reason === 'INC-1 db1 powered off at the PDU',
    );
    expect(requested).toBeDefined();
  });
});

describe('requireWatchdog: false keeps lease-only fencing (opt-out)', () => {
  const c = new Cluster({
    label: 'fenceopt',
    addressPrefix: '127.0.0.21',
    agentPort: 17270,
    dnsPort: 15270,
    watchdog: false,
    policy: { requireWatchdog: false },
  });
  beforeAll(() => c.start());
  afterAll(() => c.close());

  it('kill -9 of production fails over by lease expiry without a watchdog', async () => {
    await c.production.agent!.kill();
    await c.waitDns(c.replica.address, 30000);
    const failover = (await c.operations()).find((o) => o.type === 'failover');
    const op = await c.waitOperation(failover.id);
    expect(op.state).toBe('succeeded');
    expect(op.steps.find((s: { name: string }) => s.name === 'fence').output).toMatchObject({
      fencedBy: 'lease-expiry',
      watchdogArmed: false,
    });
  });
});
