/**
 * Dry runs of every operation kind, single scenario and group, with real agents: each answers its
 * plan (steps, target and why, how each node would be fenced, what would refuse it) and leaves
 * epochs, states, operations, the audit log, DNS and the agents' action logs exactly as they were.
 * Nodes 127.0.5.1-3, agents :17985, DNS :15985.
 */
import { Cluster } from '../support/cluster';
import { waitFor } from '../support/orchestrator';

const MOVE_STEPS = ['lock-epoch', 'pre-checks', 'fence', 'promote', 'redirect-dns', 'verify-dns'];

describe('dry-run plans', () => {
  const c = new Cluster({
    label: 'dryrun',
    addressPrefix: '127.0.5.',
    agentPort: 17985,
    dnsPort: 15985,
    replicas: 2,
    failoverMode: 'manual',
  });
  let groupId = '';

  beforeAll(async () => {
    await c.start();
    const g = await c.api('POST', '/api/v1/groups', { name: 'dryrun-group', scenarioIds: [c.scenarioId] });
    expect(g.status).toBe(201);
    groupId = g.body.id;
  });
  afterAll(() => c.close());

  /** Everything a dry run must not touch. */
  const snapshot = async () => {
    const s = await c.scenario();
    return {
      scenario: { epoch: s.epoch, state: s.state, activeNodeId: s.activeNodeId, policy: s.policy },
      operations: (await c.operations()).length,
      audit: (await c.api('GET', '/api/v1/audit?limit=1')).body.total,
      dns: await c.dnsAnswer(),
      actions: c.nodes.map((n) => c.actionsLog(n).length),
    };
  };
  const dry = (kind: string, body: Record<string, unknown> = {}) =>
    c.api('POST', `/api/v1/scenarios/${c.scenarioId}/${kind}`, { reason: 'dry run', dryRun: true, ...body });

  it('plans each operation kind and changes nothing', async () => {
    const before = await snapshot();
    const [prod, r1, r2] = c.nodes;

    const failover = await dry('failover');
    expect(failover.status).toBe(200);
    expect(failover.body).toMatchObject({
      dryRun: true,
      type: 'failover',
      wouldRun: true,
      state: { current: 'running', during: 'failing_over' },
      epoch: { current: before.scenario.epoch, next: before.scenario.epoch + 1 },
      target: { nodeId: r1.id, name: r1.name, why: expect.stringContaining(r1.name) },
      fencing: [{ nodeId: prod.id, method: 'agent-demote' }],
      refusals: [],
    });
    expect(failover.body.steps.slice(0, MOVE_STEPS.length)).toEqual(MOVE_STEPS);

    const explicit = await dry('failover', { targetNodeId: r2.id });
    expect(explicit.body.target).toMatchObject({ nodeId: r2.id });

    const switchover = await dry('switchover');
    expect(switchover.body).toMatchObject({
      wouldRun: true,
      fencing: [{ nodeId: prod.id, method: 'clean-demote' }],
    });
    expect(switchover.body.steps).toContain('demote-active');

    const recovery = await dry('active-server-recovery', { activeNodeId: prod.id });
    expect(recovery.body).toMatchObject({ wouldRun: true, target: { nodeId: prod.id } });
    expect(recovery.body.fencing.map((f: { nodeId: string }) => f.nodeId).sort()).toEqual(
      [r1.id, r2.id].sort(),
    );

    const failback = await dry('failback');
    expect(failback.status).toBe(200);
    expect(failback.body).toMatchObject({
      wouldRun: false,
      refusals: [
        { rule: 'state', message: expect.stringMatching(/cannot failback a scenario that is running/) },
        { rule: 'target', message: 'production is already active' },
      ],
    });
    expect((await dry('start')).body).toMatchObject({ wouldRun: false, refusals: [{ rule: 'state' }] });
    expect((await dry('stop')).body).toMatchObject({
      wouldRun: true,
      steps: ['notify', 'audit'],
      target: null,
    });

    const ar = await dry('ar-test');
    expect(ar.status).toBe(200);
    expect(ar.body).toMatchObject({
      wouldRun: true,
      steps: ['ar-suspend', 'ar-start', 'ar-check', 'ar-rewind', 'ar-resume'],
      epoch: { current: before.scenario.epoch, next: before.scenario.epoch },
      target: { nodeId: r1.id, name: r1.name },
      fencing: [],
    });
    expect((await dry('ar-test', { targetNodeId: r2.id, snapshot: true })).body).toMatchObject({
      target: { nodeId: r2.id },
      steps: expect.arrayContaining(['ar-snapshot']),
    });
    expect((await dry('ar-test', { targetNodeId: prod.id })).status).toBe(400);

    const group = await c.api('POST', `/api/v1/groups/${groupId}/failover`, { reason: 'dry', dryRun: true });
    expect(group.status).toBe(200);
    expect(group.body).toMatchObject({
      dryRun: true,
      groupId,
      wouldRun: true,
      plans: [
        expect.objectContaining({
          scenarioId: c.scenarioId,
          type: 'failover',
          target: expect.objectContaining({ nodeId: r1.id }),
        }),
      ],
    });
    const groupFailback = await c.api('POST', `/api/v1/groups/${groupId}/failback`, {
      reason: 'dry',
      dryRun: true,
    });
    expect(groupFailback.body).toMatchObject({
      wouldRun: false,
      plans: [expect.objectContaining({ wouldRun: false })],
    });

    expect(await snapshot()).toEqual(before);
  });

  it('bad input gets the same 4xx as the real request, and nothing is written', async () => {
    const before = await snapshot();
    const unknown = '00000000-0000-4000-8000-000000000000';
    for (const [path, body, status] of [
      [`/api/v1/scenarios/${c.scenarioId}/failover`, { reason: 'x', dryRun: 'yes' }, 400],
      [
        `/api/v1/scenarios/${c.scenarioId}/failover`,
        { reason: 'x', dryRun: true, targetNodeId: unknown },
        400,
      ],
      [`/api/v1/scenarios/${c.scenarioId}/failover`, { reason: 'x', dryRun: true, confirmFenced: true }, 400],
      [`/api/v1/scenarios/${c.scenarioId}/failover`, { dryRun: true }, 400],
      [`/api/v1/scenarios/${unknown}/failover`, { reason: 'x', dryRun: true }, 404],
      [`/api/v1/groups/${unknown}/failover`, { reason: 'x', dryRun: true }, 404],
      [`/api/v1/groups/${groupId}/stop`, { reason: 'x', dryRun: 1 }, 400],
    ] as const) {
      const r = await c.api('POST', path, body);
      expect({ path, body, status: r.status }).toEqual({ path, body, status });
    }
    expect(await snapshot()).toEqual(before);
  });

  it('names every rule that would refuse it: policy, fencing without force, a switchover without both nodes', async () => {
    // The policy keeps failovers in production's site; the replicas are in other sites.
    expect(
      (await c.api('PATCH', `/api/v1/scenarios/${c.scenarioId}`, { policy: { allowCrossSite: false } }))
        .status,
    ).toBe(200);
    let before = await snapshot();
    const policy = await dry('failover');
    expect(policy.body).toMatchObject({
      wouldRun: false,
      target: { nodeId: null, why: expect.stringMatching(/no eligible replica/) },
      refusals: [expect.objectContaining({ rule: 'no-eligible-target' })],
    });
    expect(policy.body.target.candidates).toEqual([
      expect.objectContaining({
        name: 'replica1',
        reasons: [expect.stringMatching(/keeps failovers in their site/)],
      }),
      expect.objectContaining({ name: 'replica2' }),
    ]);
    // An operator's force overrides the site rule (as the real operation would).
    expect((await dry('failover', { force: true })).body).toMatchObject({ wouldRun: true });
    expect(await snapshot()).toEqual(before);
    await c.api('PATCH', `/api/v1/scenarios/${c.scenarioId}`, { policy: { allowCrossSite: true } });

    // Production's agent dies: fencing now needs force, and a switchover is out.
    await c.production.agent!.kill();
    await waitFor(
      'production agent unreachable',
      async () =>
        (await dry('failover')).body.refusals.some((r: { rule: string }) => r.rule === 'fencing-needs-force'),
      20000,
    );
    before = await snapshot();
    const forced = await dry('failover', { force: true });
    expect(forced.body).toMatchObject({
      wouldRun: true,
      fencing: [expect.objectContaining({ nodeId: c.production.id, method: 'lease-wait' })],
    });
    expect(forced.body.fencing[0].expectedWaitMs).toBeGreaterThanOrEqual(0);
    expect(forced.body.fencing[0].detail).toMatch(/watchdog is armed/);
    expect((await dry('switchover')).body).toMatchObject({
      wouldRun: false,
      refusals: [expect.objectContaining({ rule: 'needs-both-nodes' })],
    });
    expect(await snapshot()).toEqual(before);
  });
});
