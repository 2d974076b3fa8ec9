/**
 * The orchestrator is cut off from production while the replica still hears it: production's agent
 * sends its heartbeats through a TCP proxy this test cuts, and keeps exchanging peer heartbeats
 * with the replica. An auto-mode scenario, so a wrong `failed` verdict would start a failover.
 * Real agents on 127.0.0.81-82 (port 17811), DNS on 15811.
 */
import { Cluster } from '../support/cluster';
import { waitFor } from '../support/orchestrator';
import { TcpProxy } from '../support/tcp-proxy';
import { check, events, verdictChanges, waitHealth, watchVerdicts } from './detection-helpers';

const INTERVAL = 300;
const TTL = 4 * INTERVAL;

describe('detection: orchestrator cut off from production, the replica still sees it', () => {
  let proxy: TcpProxy | null = null;
  const c = new Cluster({
    label: 'detpartition',
    addressPrefix: '127.0.0.8',
    agentPort: 17811,
    dnsPort: 15811,
    failoverMode: 'auto',
    heartbeatIntervalMs: INTERVAL,
    checks: [{ name: 'heartbeat', kind: 'heartbeat', intervalMs: INTERVAL, ttlMs: TTL }],
    policy: { leaseMs: 5 * INTERVAL, recoveryHoldMs: 1000 },
    // One orchestrator, reached by production only through the proxy: with sharding on, its answers
    // would name its own URL as the owner and production would go around the proxy.
    orchestratorEnv: { DETECTOR_SHARDING: 'false' },
    beforeAgents: async (cluster) => {
      proxy = new TcpProxy('127.0.0.1', Number(new URL(cluster.o.url).port));
      await proxy.start();
    },
    agentExtra: (name) => (name === 'prod' ? { orchestrators: [`http://127.0.0.1:${proxy!.port}`] } : {}),
  });

  beforeAll(async () => {
    await c.start();
  });
  afterAll(async () => {
    await c.close();
    await proxy?.stop();
  });

  it('heartbeats lost for 3 × TTL → suspect at most: no failover, DNS unchanged, production not self-fenced', async () => {
    await waitHealth(c, c.production, 'healthy', (h) => h.verdict === 'healthy');
    await waitHealth(c, c.replica, 'healthy', (h) => h.verdict === 'healthy');

    proxy!.cut();
    let seen: string[];
    try {
      seen = await watchVerdicts(c, c.production, 3 * TTL + 1000);
      // Still cut: what the orchestrator knows at the end of it.
      const h = await waitHealth(c, c.production, 'suspect', (x) => x.verdict === 'suspect');
      expect(check(h, 'heartbeat')!.state).toBe('failing');
      expect(h.evidence!.view).toBe('down');
      expect(h.evidence!.reason).toMatch(/1 peer\(s\) still reach it/);
      expect(h.evidence!.observers).toEqual([
        expect.objectContaining({ observer: 'replica1', reachable: true, fresh: true }),
      ]);
      const st = await c.agentStatus(c.production);
      expect(st.lastOrchestratorContactMsAgo).toBeGreaterThan(TTL);
      expect(st.scenarios[0].role).toBe('production');
    } finally {
      proxy!.restore();
    }
    expect(seen[0]).toBe('healthy');
    expect(seen).toContain('suspect');
    expect(seen).not.toContain('failed');

    expect((await c.operations()).map((o) => o.type)).toEqual(['start']);
    expect(await c.dnsAnswer()).toEqual([c.production.address]);
    expect((await verdictChanges(c, c.production)).some((x) => x.endsWith('→failed'))).toBe(false);
    const scenarioEvents = await events(c, `scenarioId=${c.scenarioId}`);
    // No alert and no failover, only one record of the decision not to act (no quorum): not repeated
    // however many ticks the partition lasted.
    expect(scenarioEvents.filter((e) => /alert|failover/.test(e.kind)).map((e) => e.kind)).toEqual([
      'failover-withheld',
    ]);
    const decisions = (await c.api('GET', `/api/v1/scenarios/${c.scenarioId}/decisions`)).body.items;
    expect(decisions).toEqual([
      expect.objectContaining({
        outcome: 'no-action',
        rule: 'no-quorum',
        nodeId: c.production.id,
        operationId: null,
        message: expect.stringMatching(/peers do not confirm it/),
        evidence: expect.objectContaining({
          view: 'down',
          observers: [expect.objectContaining({ observer: 'replica1', reachable: true })],
        }),
        thresholds: expect.objectContaining({ peerQuorum: 1 }),
      }),
    ]);
    // It still heard its peer, so it never demoted itself.
    expect(c.actionsLog(c.production).filter((l) => /^(demote|fence)/.test(l))).toEqual([]);
  });

  it('restored → heartbeats flow again, healthy, still active', async () => {
    const h = await waitHealth(c, c.production, 'healthy', (x) => x.verdict === 'healthy');
    expect(check(h, 'heartbeat')!.state).toBe('passing');
    await waitFor('agent reaches the orchestrator', async () => {
      const st = await c.agentStatus(c.production);
      return st && st.lastOrchestratorContactMsAgo < TTL && st.scenarios[0].role === 'production';
    });
    expect(await c.scenario()).toMatchObject({ state: 'running', activeNodeId: c.production.id, epoch: 1 });
    expect(await c.dnsAnswer()).toEqual([c.production.address]);
  });
});
