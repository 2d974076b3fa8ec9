import { Cluster } from '../support/cluster';
import { spawnOrchestrator, waitFor } from '../support/orchestrator';

/**
 * Two orchestrator instances with every role share PostgreSQL and Redis; agents report to both,
 * each serves DNS. One instance dies (kill -9), then production dies: the survivor fails over and
 * both DNS servers (the survivor's at once, the restarted one's from PostgreSQL) answer the replica.
 */
describe('two orchestrators: one killed, the other still fails over', () => {
  const SECOND_DNS = 15161;
  const SECOND_HTTP = 18161;
  const c = new Cluster({
    label: 'twoorch',
    addressPrefix: '127.0.0.16',
    agentPort: 17160,
    dnsPort: 15160,
    failoverMode: 'auto',
    secondOrchestrator: { httpPort: SECOND_HTTP, dnsPort: SECOND_DNS },
  });

  beforeAll(async () => {
    await c.start();
  });
  afterAll(async () => {
    await c.close();
  });

  it('survives the loss of one orchestrator instance', async () => {
    // Both instances serve the record.
    await waitFor('second DNS answers production', async () =>
      (await c.dnsAnswer(SECOND_DNS).catch((): string[] => [])).includes(c.production.address),
    );
    // Both receive heartbeats: the agents list both orchestrators.
    expect(c.production.config.orchestrators).toHaveLength(2);

    await c.second!.stop('SIGKILL');
    // Losing one orchestrator takes nothing down: production keeps its role. (If the killed one led
    // the detectors, the survivor takes the leadership over within the 3 s key lease.)
    await new Promise((r) => setTimeout(r, 3500));
    expect((await c.agentStatus(c.production))?.scenarios?.[0]?.role).toBe('production');
    expect(await c.dnsAnswer()).toEqual([c.production.address]);

    await c.production.agent!.kill();
    await c.waitDns(c.replica.address, 30000);
    const failovers = (await c.operations()).filter((o) => o.type === 'failover');
    expect(failovers).toHaveLength(1);
    expect((await c.waitOperation(failovers[0].id)).state).toBe('succeeded');
    // Only the leading detector records and acts: one failed verdict, one failover request.
    const events = async (kind: string) =>
      (await c.api('GET', `/api/v1/events?kind=${kind}&limit=100`)).body.items as {
        message: string;
        nodeId: string;
      }[];
    expect(
      (await events('verdict-changed')).filter(
        (e) => e.nodeId === c.production.id && /→ failed/.test(e.message),
      ),
    ).toHaveLength(1);
    expect(await events('failover-requested')).toHaveLength(1);

    // The killed instance comes back and serves the current record (loaded from PostgreSQL).
    c.second = await spawnOrchestrator(
      { ...c.o.env, DNS_PORT: String(SECOND_DNS), LOG_LEVEL: 'warn' },
      SECOND_HTTP,
    );
    await waitFor('restarted DNS answers the replica', async () =>
      (await c.dnsAnswer(SECOND_DNS).catch((): string[] => [])).includes(c.replica.address),
    );
    expect((await c.operations()).filter((o) => o.type === 'failover')).toHaveLength(1);
  });
});
