import { DataSource } from 'typeorm';
import { StaleEpochError } from '../../apps/orchestrator/src/common/errors';
import { DnsService } from '../../apps/orchestrator/src/dns/dns.service';
import { Cluster, RECORD, ZONE } from '../support/cluster';
import { http, waitFor } from '../support/orchestrator';

describe('automatic failover on a dead production agent (real agents, PostgreSQL, Redis, DNS)', () => {
  const c = new Cluster({ label: 'autofo', addressPrefix: '127.0.0.4', agentPort: 17410, dnsPort: 15410 });

  beforeAll(async () => {
    await c.start();
  });
  afterAll(async () => {
    await c.close();
  });

  it('kill -9 of production → DNS answers the replica, every step done, audited; the old production stays demoted', async () => {
    expect(await c.dnsAnswer()).toEqual([c.production.address]);
    const before = await c.scenario();
    expect(before).toMatchObject({ state: 'running', epoch: 1, activeNodeId: c.production.id });
    // Each agent holds the role the orchestrator assigned (this is what its self-fencing lease guards).
    await waitFor(
      'agents hold their roles',
      async () => {
        const p = await c.agentStatus(c.production);
        const r = await c.agentStatus(c.replica);
        return p?.scenarios?.[0]?.role === 'production' && r?.scenarios?.[0]?.role === 'replica';
      },
      10000,
    );

    // Its agent reports an armed watchdog (what lets lease expiry count as fencing).
    await waitFor(
      'production watchdog armed',
      async () => (await c.agentStatus(c.production))?.watchdog?.armed,
      10000,
    );
    expect(c.production.service!.alive()).toBe(true);

    await c.production.agent!.kill();
    await c.waitDns(c.replica.address, 30000);
    // The agent died, its watchdog did not: it killed the protected service when the lease ran out.
    expect(c.production.service!.alive()).toBe(false);
    expect(c.replica.service!.alive()).toBe(true);

    const ops = await c.operations();
    expect(ops).toHaveLength(2); // start + failover
    const failover = await c.waitOperation(ops.find((o) => o.type === 'failover').id);
    expect(failover).toMatchObject({ state: 'succeeded', trigger: 'auto', epoch: 2 });
    expect(failover.steps.map((s: any) => [s.name, s.state])).toEqual([
      ['lock-epoch', 'done'],
      ['pre-checks', 'done'],
      ['fence', 'done'],
      ['promote', 'done'],
      ['redirect-dns', 'done'],
      ['verify-dns', 'done'],
      ['verify-clients', 'done'],
      ['post-checks', 'done'],
      ['notify', 'done'],
      ['audit', 'done'],
    ]);
    expect(failover.steps[2].output).toMatchObject({ fencedBy: 'lease-expiry', watchdogArmed: true });
    // post-checks asked the promoted agent: it holds production at the new epoch.
    expect(failover.steps[7].output).toMatchObject({ role: 'production', epoch: 2 });
    // No verifyClients configured: "DNS updated" is a milestone, "clients moved" is not measured.
    expect(failover.steps[6].output).toEqual({ clientsMoved: null, verifyClients: 'not configured' });
    expect(failover.milestones).toMatchObject({ clients: 'not-configured', clientsMovedAt: null });
    expect(failover.milestones.dnsUpdatedAt).toBe(failover.steps[5].finishedAt);
    const after = await c.waitState('failed_over');
    expect(after).toMatchObject({ epoch: 2, activeNodeId: c.replica.id });

    // What a NOC dashboard scrapes.
    const metrics = await http(c.o.url, 'GET', '/metrics');
    expect(metrics.body).toContain('ha_scenario_epoch{scenario="orders"} 2');
    expect(metrics.body).toContain('ha_scenario_state{scenario="orders",state="failed_over"} 1');
    expect(metrics.body).toContain('ha_scenario_active{scenario="orders",node="replica1"} 1');
    expect(metrics.body).toContain('ha_node_verdict{node="prod",verdict="failed"} 1');
    expect(metrics.body).toContain('ha_detector_leader 1');

    // The replica ran promote exactly once, with the new epoch.
    expect(c.actionsLog(c.replica).filter((l) => l.startsWith('promote'))).toEqual([
      expect.stringMatching(/^promote epoch=2 /),
    ]);
    const audit = await c.api('GET', `/api/v1/audit?targetId=${c.scenarioId}`);
    const actions = audit.body.items.map((a: any) => a.action);
    expect(actions).toEqual(
      expect.arrayContaining(['operation.failover.requested', 'operation.failover.succeeded']),
    );

    // The old production comes back with its old state file (epoch 1, production): it must demote itself.
    await c.startAgent(c.production);
    await waitFor(
      'old production demoted',
      async () => {
        const st = await c.agentStatus(c.production);
        const text = JSON.stringify(st ?? {});
        return text.includes('demoted') && text.includes('"epoch":2');
      },
      20000,
    );
    expect(c.actionsLog(c.production).some((l) => l.startsWith('demote epoch=2'))).toBe(true);
    expect(await c.dnsAnswer()).toEqual([c.replica.address]);
    expect((await c.scenario()).activeNodeId).toBe(c.replica.id);
    // Coming back as production at the old epoch, then demoting itself, is not a split state.
    const splits = await c.api('GET', `/api/v1/events?scenarioId=${c.scenarioId}&kind=split-state`);
    expect(splits.body.items).toHaveLength(0);
  });

  it('a DNS write with an older epoch is refused and changes nothing', async () => {
    const dns = c.o.app.get(DnsService);
    const ds = c.o.app.get(DataSource);
    const stale = dns.writesFor(
      c.scenarioId,
      [{ zone: ZONE, name: RECORD, type: 'A', ttl: 1 }],
      c.production.address,
      1,
    );
    await expect(ds.transaction((m) => dns.persist(m, stale))).rejects.toBeInstanceOf(StaleEpochError);
    const rows = await ds.query('SELECT value, epoch FROM dns_records WHERE name = $1', [RECORD]);
    expect(rows).toEqual([{ value: c.replica.address, epoch: 2 }]);
    // The embedded server refuses it too (defence in depth), and keeps answering the replica.
    await expect(dns.provider.apply(stale[0])).rejects.toBeInstanceOf(StaleEpochError);
    expect(await c.dnsAnswer()).toEqual([c.replica.address]);
  });
});
