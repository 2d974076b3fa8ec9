/**
 * The production agent stops (SIGSTOP) for less than the heartbeat TTL, then dies (kill -9), in a
 * manual-mode scenario so the verdict and the alert can be observed without a failover.
 * Real agents on 127.0.0.81-82 (port 17810), DNS on 15810.
 */
import { Cluster } from '../support/cluster';
import { waitFor } from '../support/orchestrator';
import { check, events, health, verdictChanges, waitHealth, watchVerdicts } from './detection-helpers';

const INTERVAL = 400;
const TTL = 6 * INTERVAL;

describe('detection: a paused production is suspect, a dead one is failed', () => {
  const c = new Cluster({
    label: 'detnodefail',
    addressPrefix: '127.0.0.8',
    agentPort: 17810,
    dnsPort: 15810,
    failoverMode: 'manual',
    heartbeatIntervalMs: INTERVAL,
    checks: [{ name: 'heartbeat', kind: 'heartbeat', intervalMs: INTERVAL, ttlMs: TTL }],
    // The lease outlives the pause, so the paused agent has no reason to fence itself.
    policy: { leaseMs: 8 * INTERVAL, recoveryHoldMs: 1000 },
  });

  beforeAll(async () => {
    await c.start();
  });
  afterAll(async () => {
    c.production.agent?.signal('SIGCONT');
    await c.close();
  });

  it('SIGSTOP for half the TTL → suspect, then healthy again; never failed, no alert', async () => {
    await waitHealth(c, c.production, 'healthy', (h) => h.verdict === 'healthy');
    await waitHealth(c, c.replica, 'healthy', (h) => h.verdict === 'healthy');
    const changesBefore = (await verdictChanges(c, c.production)).length;

    const agent = c.production.agent!;
    let seenWhilePaused: string[];
    agent.signal('SIGSTOP');
    try {
      seenWhilePaused = await watchVerdicts(c, c.production, 3 * INTERVAL);
    } finally {
      agent.signal('SIGCONT');
    }
    expect(seenWhilePaused).toContain('suspect');
    expect(seenWhilePaused).not.toContain('failed');

    const back = await waitHealth(c, c.production, 'healthy after SIGCONT', (h) => h.verdict === 'healthy');
    expect(check(back, 'heartbeat')?.state).toBe('passing');
    // Watch a little longer: the late heartbeat must not turn into a failure afterwards.
    expect(await watchVerdicts(c, c.production, TTL)).toEqual(['healthy']);

    const changes = (await verdictChanges(c, c.production)).slice(changesBefore);
    expect(changes).toContain('healthy→suspect');
    expect(changes).toContain('suspect→healthy');
    expect(changes.some((x) => x.endsWith('→failed'))).toBe(false);
    const scenarioEvents = await events(c, `scenarioId=${c.scenarioId}`);
    expect(scenarioEvents.filter((e) => /alert|failover/.test(e.kind))).toEqual([]);
    // The agent kept its role (no self-fencing) and DNS never moved.
    const st = await c.agentStatus(c.production);
    expect(st.scenarios[0].role).toBe('production');
    expect(c.actionsLog(c.production).filter((l) => /^(demote|fence)/.test(l))).toEqual([]);
    expect(await c.dnsAnswer()).toEqual([c.production.address]);
  });

  it('kill -9 → failed with evidence (heartbeat failing, the replica lost it too), events and an alert', async () => {
    await c.production.agent!.kill();

    // The verdict is in memory at once; its event row is written just after: wait for both.
    const h = await waitHealth(
      c,
      c.production,
      'failed',
      (x) =>
        x.verdict === 'failed' &&
        x.history.some((e) => e.kind === 'verdict-changed' && /→ failed/.test(e.message)),
      20000,
    );
    expect(h.evidence!.view).toBe('down');
    expect(check(h, 'heartbeat')).toMatchObject({ state: 'failing', lastStatus: 'critical' });
    expect(h.evidence!.observers).toEqual([
      expect.objectContaining({ observer: 'replica1', reachable: false, fresh: true }),
    ]);
    expect(h.evidence!.reason).toMatch(/orchestrator and 1 peer\(s\) lost the node/);
    expect(h.history.some((e) => e.kind === 'verdict-changed' && /→ failed/.test(e.message))).toBe(true);

    const changes = await verdictChanges(c, c.production);
    expect(changes[changes.length - 1]).toMatch(/→failed$/);
    const failedEvent = (await events(c, `nodeId=${c.production.id}&kind=verdict-changed`)).pop()!;
    expect(failedEvent.severity).toBe('critical');
    expect(failedEvent.details).toMatchObject({ to: 'failed', evidence: { verdict: 'failed' } });

    // Manual mode: one alert, no failover; the replica stays healthy, DNS stays put.
    const alerts = await waitFor('alert event', async () => {
      const a = await events(c, `scenarioId=${c.scenarioId}&kind=alert`);
      return a.length > 0 ? a : null;
    });
    expect(alerts).toHaveLength(1);
    expect(alerts[0]).toMatchObject({ severity: 'critical', nodeId: c.production.id });
    expect(alerts[0].message).toMatch(/manual mode/);
    expect((await c.operations()).map((o) => o.type)).toEqual(['start']);
    expect((await health(c, c.replica)).verdict).toBe('healthy');
    expect(await c.dnsAnswer()).toEqual([c.production.address]);

    const status = await c.api('GET', `/api/v1/scenarios/${c.scenarioId}/status`);
    expect(status.status).toBe(200);
    expect(status.body.nodes).toEqual([
      expect.objectContaining({ nodeId: c.production.id, role: 'active', verdict: 'failed' }),
      expect.objectContaining({ nodeId: c.replica.id, role: 'replica', verdict: 'healthy' }),
    ]);
  });
});
