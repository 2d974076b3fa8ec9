/**
 * The storm brake and a switch-all group action: five member scenarios (each its own production
 * and replica agent, 127.0.9.1–10, port 17530; DNS 15530) in a group with switch-all-if-any-fails,
 * and a budget of three incidents. Member 1's production dies: moving the group would move users
 * off five production nodes (the failed one and four healthy mates'), more than the budget. The
 * action is checked whole before any member starts: no member moves, one decision is recorded
 * for the group, the brake engages, and DNS keeps answering every production.
 */
import { Cluster } from '../support/cluster';
import { waitFor } from '../support/orchestrator';

describe('storm brake with a switch-all group of 5 and a budget of 3 (real agents, PostgreSQL, Redis, DNS)', () => {
  const c = new Cluster({
    label: 'groupbrake',
    addressPrefix: '127.0.9.',
    agentPort: 17530,
    dnsPort: 15530,
    group: { members: 5, switchAllIfAnyFails: true },
    orchestratorEnv: { STORM_MAX_FAILOVERS: '3' },
  });

  beforeAll(async () => {
    await c.start();
  });
  afterAll(async () => {
    await c.close();
  });

  const decisions = async (scenarioId: string) =>
    (await c.api('GET', `/api/v1/scenarios/${scenarioId}/decisions`)).body.items as any[];

  it('member 1 production killed: no member fails over, one storm-brake decision for the group', async () => {
    const [m1] = c.members;
    await m1.production.agent!.kill();
    const decision = await waitFor(
      'the group brake decision',
      async () => (await decisions(m1.scenarioId)).find((d) => d.rule === 'storm-brake'),
      40000,
    );
    expect(decision).toMatchObject({ outcome: 'suppressed', operationId: null });
    expect(decision.message).toMatch(
      /moving group groupbrake-group \(switch all if any fails\) would exceed/,
    );
    expect((await c.api('GET', '/api/v1/storm-brake')).body).toMatchObject({ engaged: true });
    // A few more detector rounds: still nothing moves, still one decision.
    await new Promise((r) => setTimeout(r, 3000));
    expect((await c.api('GET', '/api/v1/operations?type=failover')).body.total).toBe(0);
    const all = (await Promise.all(c.members.map((m) => decisions(m.scenarioId)))).flat();
    expect(all.filter((d) => d.rule === 'storm-brake')).toHaveLength(1);
    expect(all.filter((d) => d.outcome === 'failover')).toEqual([]);
    for (const m of c.members) {
      expect(await c.scenario(m.scenarioId)).toMatchObject({ activeNodeId: m.production.id, epoch: 1 });
      expect(await c.dnsAnswer(c.opts.dnsPort, m.record)).toEqual([m.production.address]);
    }
    const events = (await c.api('GET', '/api/v1/events?kind=storm-brake')).body.items;
    expect(events).toHaveLength(1);
    expect(events[0].details.refusedIncident).toBe(`group:${c.groupId}`);
  });
});
