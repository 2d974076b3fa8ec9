/**
 * Promotion policy with real agents: a replica whose agent reports lag above the bound is skipped
 * for the next one in priority; with none eligible no promotion happens (the operation fails with
 * each replica's reason) until an operator forces it; a failover does not leave the site when the
 * policy forbids it; a policy naming a label no node carries is refused.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Cluster, lagFromFile } from '../support/cluster';
import { waitFor } from '../support/orchestrator';

describe('promotion policy', () => {
  const c: Cluster = new Cluster({
    label: 'promopolicy',
    addressPrefix: '127.0.3.2',
    agentPort: 17962,
    dnsPort: 15962,
    replicas: 2,
    failoverMode: 'auto',
    policy: { holdDownMs: 0, maxLagSeconds: 30 },
    // the storm brake is not under test: each test fails production once more
    orchestratorEnv: { STORM_MAX_FAILOVERS: '100' },
    // Each agent reports the replication lag written in its node's `lag` file.
    agentExtra: (name) => lagFromFile(c, name),
  });
  const [prod, r1, r2] = [0, 1, 2];
  const lag = async (i: number, seconds: number) => {
    writeFileSync(join(c.nodes[i].dir, 'lag'), String(seconds));
    await waitFor(
      `${c.nodes[i].name} reports ${seconds} s of lag`,
      async () => (await c.agentStatus(c.nodes[i]))?.replicaLagSeconds === seconds,
      10000,
    );
  };
  const autoFailovers = async () =>
    (await c.operations()).filter((o) => o.trigger === 'auto' && o.type === 'failover');

  /** Production back (its agent restarted, it demoted itself) and users on it again. */
  async function failBack(): Promise<void> {
    await c.startAgent(c.nodes[prod]);
    await waitFor(
      'production healthy',
      async () =>
        (await c.api('GET', `/api/v1/nodes/${c.nodes[prod].id}/health`)).body?.verdict === 'healthy',
      30000,
    );
    const fb = await waitFor(
      'failback accepted',
      async () => {
        const r = await c.api('POST', `/api/v1/scenarios/${c.scenarioId}/failback`, { reason: 'back' });
        return r.status === 202 ? r.body : null;
      },
      20000,
      500,
    );
    expect((await c.waitOperation(fb.id)).state).toBe('succeeded');
    await c.waitDns(c.nodes[prod].address);
  }

  beforeAll(() => c.start());
  afterAll(() => c.close());

  it('a lagging replica is skipped for the next one in priority', async () => {
    await lag(r1, 50);
    await lag(r2, 1);
    await c.production.agent!.kill();
    await c.waitDns(c.nodes[r2].address);
    const [op] = await autoFailovers();
    expect((await c.waitOperation(op.id)).params.targetNodeId).toBe(c.nodes[r2].id);
    await failBack();
  });

  it('with no eligible replica nothing is promoted and each reason is given; a forced failover works', async () => {
    await lag(r1, 50);
    await lag(r2, 45);
    const seen = new Set((await autoFailovers()).map((o) => o.id));
    const promotes = () =>
      [r1, r2].flatMap((i) => c.actionsLog(c.nodes[i])).filter((l) => l.startsWith('promote')).length;
    const promotedBefore = promotes();
    await c.production.agent!.kill();
    const failed = await waitFor('an automatic failover to fail', async () => {
      const f = (await autoFailovers()).find((o) => !seen.has(o.id) && o.state === 'failed');
      return f ? c.waitOperation(f.id) : null;
    });
    expect(failed.error).toContain('no eligible replica');
    expect(failed.error).toContain('replica1: lags 50 s (max 30 s)');
    expect(failed.error).toContain('replica2: lags 45 s (max 30 s)');
    expect(await c.dnsAnswer()).toEqual([c.nodes[prod].address]);
    expect(promotes()).toBe(promotedBefore);
    // A critical alert of its own, with each candidate's reasons; the decision names the operation.
    const alerts = (await c.api('GET', `/api/v1/events?scenarioId=${c.scenarioId}&kind=no-eligible-replica`))
      .body.items;
    const alert = alerts.find(
      (e: { details: { operationId: string } }) => e.details.operationId === failed.id,
    );
    expect(alert).toMatchObject({ severity: 'critical' });
    expect(alert.details.candidates).toEqual([
      expect.objectContaining({ name: 'replica1', reasons: ['lags 50 s (max 30 s)'] }),
      expect.objectContaining({ name: 'replica2', reasons: ['lags 45 s (max 30 s)'] }),
    ]);
    expect(failed.decisionId).toEqual(expect.any(String));
    const decision = (await c.api('GET', `/api/v1/decisions/${failed.decisionId}`)).body;
    expect(decision).toMatchObject({ outcome: 'failover', operationId: failed.id });
    // …and the operation's own decision not to promote, with the candidates and the policy bound.
    const policyDecisions = (await c.api('GET', `/api/v1/scenarios/${c.scenarioId}/decisions?rule=policy`))
      .body.items;
    expect(policyDecisions.find((d: { operationId: string }) => d.operationId === failed.id)).toMatchObject({
      outcome: 'no-action',
      message: expect.stringMatching(/no automatic promotion: no eligible replica/),
      thresholds: { maxLagSeconds: 30 },
      evidence: { candidates: expect.arrayContaining([expect.objectContaining({ name: 'replica1' })]) },
    });
    const forced = await waitFor(
      'forced failover accepted',
      async () => {
        const r = await c.api('POST', `/api/v1/scenarios/${c.scenarioId}/failover`, {
          reason: 'INC-7 accept the lag',
          force: true,
        });
        return r.status === 202 ? r.body : null;
      },
      20000,
      300,
    );
    const done = await c.waitOperation(forced.id);
    expect(done.state).toBe('succeeded');
    expect(done.params.targetNodeId).toBe(c.nodes[r1].id);
    await c.waitDns(c.nodes[r1].address);
    const audit = await c.api('GET', '/api/v1/audit?action=operation.failover.requested&limit=50');
    expect(audit.body.items.some((a: { reason: string }) => a.reason === 'INC-7 accept the lag')).toBe(true);
    await lag(r1, 0);
    await lag(r2, 0);
    await failBack();
  });

  it('a failover stays in its site when the policy says so', async () => {
    const p = await c.api('PATCH', `/api/v1/scenarios/${c.scenarioId}`, {
      policy: { allowCrossSite: false },
    });
    expect(p.status).toBe(200);
    await c.production.agent!.kill();
    const failed = await waitFor('the failover to be refused', async () => {
      const f = (await autoFailovers()).find((o) => o.state === 'failed' && /site/.test(o.error ?? ''));
      return f ?? null;
    });
    expect(failed.error).toMatch(/replica1: site s2 is not s1/);
    expect(await c.dnsAnswer()).toEqual([c.nodes[prod].address]);
    // replica2 moves to production's site: the next attempt promotes it.
    const n = await c.api('PATCH', `/api/v1/nodes/${c.nodes[r2].id}`, { labels: { site: 's1' } });
    expect(n.status).toBe(200);
    await c.waitDns(c.nodes[r2].address, 60000);
  });

  it('refuses a policy naming a label no node of the scenario carries', async () => {
    const before = (await c.scenario()).policy;
    for (const [policy, field] of [
      [{ requiredLabels: { rack: 'r9' } }, 'policy.requiredLabels.rack'],
      [{ preferredLabels: { site: 'mars' } }, 'policy.preferredLabels.site'],
      [{ requiredLabels: 'gold' }, 'requiredLabels'],
      [{ allowCrossSite: 'no' }, 'allowCrossSite'],
    ] as const) {
      const r = await c.api('PATCH', `/api/v1/scenarios/${c.scenarioId}`, { policy });
      expect({ policy, status: r.status }).toEqual({ policy, status: 400 });
      expect(JSON.stringify(r.body)).toContain(field);
    }
    expect((await c.scenario()).policy).toEqual(before);
  });
});
