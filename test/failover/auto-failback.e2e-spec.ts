/**
 * Automatic failback (policy.failback.mode automatic) with real agents: after a failover the
 * original production comes back; while its agent reports it is not resynced the failback is
 * withheld (one decision record), once it reports resynced inside the window the detector fails
 * back on its own and DNS answers production again. Bad failback settings get a 400 naming the
 * field. Nodes 127.0.5.51-52, agents :17987, DNS :15987.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Cluster, lagFromFile } from '../support/cluster';
import { waitFor } from '../support/orchestrator';

describe('automatic failback in its window', () => {
  const c: Cluster = new Cluster({
    label: 'autofailback',
    addressPrefix: '127.0.5.5',
    agentPort: 17987,
    dnsPort: 15987,
    failoverMode: 'auto',
    policy: {
      holdDownMs: 0,
      recoveryHoldMs: 1000,
      // A window that opens every second and lasts a minute: always open.
      failback: { mode: 'automatic', window: { cron: '* * * * * *', durationMinutes: 1 }, maxLagSeconds: 2 },
    },
    // Each agent reports the replication lag written in its node's `lag` file.
    agentExtra: (name) => lagFromFile(c, name),
  });
  const lag = (i: number, seconds: number) => writeFileSync(join(c.nodes[i].dir, 'lag'), String(seconds));
  const decisions = async (query = '') =>
    (await c.api('GET', `/api/v1/scenarios/${c.scenarioId}/decisions${query}`)).body.items as {
      rule: string;
      outcome: string;
      operationId: string | null;
      message: string;
      nodeId: string;
    }[];

  beforeAll(() => c.start());
  afterAll(() => c.close());

  it('withholds the failback while production is not resynced, then fails back by itself', async () => {
    lag(0, 30);
    await c.production.agent!.kill();
    await c.waitDns(c.replica.address);
    await c.waitState('failed_over');

    // Production comes back demoted, 30 s behind: healthy, but not resynced.
    await c.startAgent(c.production);
    const withheld = await waitFor(
      'failback withheld (not resynced)',
      async () => (await decisions('?rule=not-resynced'))[0],
      30000,
    );
    expect(withheld).toMatchObject({ outcome: 'no-action', operationId: null, nodeId: c.production.id });
    expect(withheld.message).toMatch(/lags 30 s \(at most 2 s to fail back\)/);
    await new Promise((r) => setTimeout(r, 1500));
    expect((await c.operations()).filter((o) => o.type === 'failback')).toEqual([]);
    expect(await decisions('?rule=not-resynced')).toHaveLength(1);

    // Resynced: the detector fails back on its own.
    lag(0, 1);
    await c.waitDns(c.production.address, 30000);
    const failback = (await c.operations()).find((o) => o.type === 'failback');
    expect(failback).toMatchObject({ trigger: 'auto', requestedBy: 'detector' });
    expect((await c.waitOperation(failback.id)).state).toBe('succeeded');
    await c.waitState('running');
    const [decided] = await decisions('?outcome=failback');
    expect(decided).toMatchObject({ rule: 'failback', operationId: failback.id });
    expect((await c.api('GET', `/api/v1/operations/${failback.id}`)).body.decisionId).toEqual(
      expect.any(String),
    );
    const events = (await c.api('GET', `/api/v1/events?scenarioId=${c.scenarioId}&kind=failback-requested`))
      .body.items;
    expect(events).toHaveLength(1);
  });

  it('bad failback settings get a 400 naming the field; the scenario is unchanged', async () => {
    const before = (await c.scenario()).policy;
    const cases: [unknown, string][] = [
      [{ mode: 'automatic' }, 'policy.failback.window'],
      [{ mode: 'sometimes' }, 'policy.failback.mode'],
      [
        { mode: 'automatic', window: { cron: 'every night', durationMinutes: 60 } },
        'policy.failback.window.cron',
      ],
      [
        { mode: 'automatic', window: { cron: '0 0 2 * * *', durationMinutes: 0 } },
        'policy.failback.window.durationMinutes',
      ],
      [
        { mode: 'automatic', window: { cron: '0 0 2 * * *', durationMinutes: 60, timezone: 'Mars/Olympus' } },
        'policy.failback.window.timezone',
      ],
      [{ mode: 'manual', maxLagSeconds: -1 }, 'policy.failback.maxLagSeconds'],
      // valid syntax, but 30 February never comes
      [
        { mode: 'automatic', window: { cron: '0 0 0 30 2 *', durationMinutes: 60 } },
        'policy.failback.window.cron',
      ],
      // a list where an object belongs (passed nested validation before)
      [{ mode: 'automatic', window: [] }, 'policy.failback.window'],
      [[], 'policy.failback'],
    ];
    for (const [failback, field] of cases) {
      const r = await c.api('PATCH', `/api/v1/scenarios/${c.scenarioId}`, { policy: { failback } });
      expect({ field, status: r.status }).toEqual({ field, status: 400 });
      const named = [r.body.details?.field, ...(r.body.details?.fields ?? []).map((f: any) => f.field)];
      expect(named).toContain(field);
    }
    for (const [policy, field] of [
      [{ verifyClients: [] }, 'policy.verifyClients'],
      [{ fencingHook: [] }, 'policy.fencingHook'],
      [[], 'policy'],
    ] as const) {
      const r = await c.api('PATCH', `/api/v1/scenarios/${c.scenarioId}`, { policy });
      expect({ field, status: r.status }).toEqual({ field, status: 400 });
    }
    expect((await c.scenario()).policy).toEqual(before);
  });
});
