/**
 * switch-all-if-any-fails end to end: two member scenarios in a group with the flag on; only member
 * 1's production dies, and the whole distributed application moves (real agents, PostgreSQL,
 * Redis, DNS).
 */
import { Cluster, ClusterMember } from '../support/cluster';
import { waitFor } from '../support/orchestrator';

describe('switch-all-if-any-fails (real agents, PostgreSQL, Redis, DNS)', () => {
  const c = new Cluster({
    label: 'groupswitch',
    addressPrefix: '127.0.0.18',
    agentPort: 17180,
    dnsPort: 15180,
    group: { members: 2, switchAllIfAnyFails: true },
    // A budget of exactly the group action: member 1's failed node and member 2's healthy one (one
    // incident per production node moved), granted whole before either member starts.
    orchestratorEnv: { STORM_MAX_FAILOVERS: '2' },
  });

  beforeAll(async () => {
    await c.start();
  });
  afterAll(async () => {
    await c.close();
  });

  const roleOf = async (m: ClusterMember, n: 'production' | 'replica') =>
    (await c.agentStatus(m[n]))?.scenarios?.find((s: any) => s.scenarioId === m.scenarioId)?.role ??
    (await c.agentStatus(m[n]))?.scenarios?.[0]?.role;

  it('kill -9 of member 1 production → member 2 (healthy) is failed over too, fenced by its agent; both DNS names flip', async () => {
    const [m1, m2] = c.members;
    await waitFor(
      'agents hold their roles',
      async () => {
        for (const m of c.members) {
          if ((await roleOf(m, 'production')) !== 'production') return false;
          if ((await roleOf(m, 'replica')) !== 'replica') return false;
        }
        return true;
      },
      10000,
    );

    await m1.production.agent!.kill();
    await c.waitDns(m1.replica.address, 30000, m1.record);
    await c.waitDns(m2.replica.address, 30000, m2.record);

    const ops = (await c.api('GET', `/api/v1/operations?groupId=${c.groupId}`)).body.items;
    expect(ops).toHaveLength(2);
    const byMember = (m: ClusterMember) => ops.find((o: any) => o.scenarioId === m.scenarioId);
    const op1 = await c.waitOperation(byMember(m1).id);
    const op2 = await c.waitOperation(byMember(m2).id);
    for (const op of [op1, op2]) {
      expect(op).toMatchObject({ state: 'succeeded', type: 'failover', trigger: 'auto', groupId: c.groupId });
    }
    // Member 1's production is dead: fenced by its lease. Member 2's is alive: demoted by its agent.
    expect(op1.steps.find((s: any) => s.name === 'fence').output.fencedBy).toBe('lease-expiry');
    expect(op2.steps.find((s: any) => s.name === 'fence').output.fencedBy).toBe('agent');
    expect(op2.reason).toMatch(/switch all if any fails: group groupswitch-group member member1 failed/);
    expect(c.actionsLog(m2.production)).toEqual([expect.stringMatching(/^demote epoch=2 /)]);
    expect(c.actionsLog(m2.replica)).toEqual([expect.stringMatching(/^promote epoch=2 /)]);
    expect(await roleOf(m2, 'production')).toBe('demoted');
    for (const m of c.members) {
      expect(await c.waitState('failed_over', 30000, m.scenarioId)).toMatchObject({
        epoch: 2,
        activeNodeId: m.replica.id,
      });
      expect(await c.dnsAnswer(c.opts.dnsPort, m.record)).toEqual([m.replica.address]);
    }

    const events = await waitFor(
      'failover-requested event of member 2',
      async () => {
        const r = await c.api('GET', `/api/v1/events?scenarioId=${m2.scenarioId}&kind=failover-requested`);
        return r.body.items.length ? r.body.items : null;
      },
      10000,
    );
    expect(events).toEqual([
      expect.objectContaining({
        severity: 'critical',
        message: expect.stringMatching(/member2 requested: member1 \(group groupswitch-group\) failed/),
      }),
    ]);
    // Two automatic failovers from one brake check, two incidents: users moved off two production
    // nodes (member 2's failover is counted against its own node, its stormKey). The budget is spent
    // exactly; the brake engages only when another failure asks for more.
    expect((await c.api('GET', '/api/v1/storm-brake')).body).toMatchObject({
      engaged: false,
      recentAutomaticFailovers: 2,
      recentIncidents: 2,
    });
    expect(op2.params.stormKey).toBe(`${m2.production.id}@${op2.params.detectedAt}`);
  });
});
