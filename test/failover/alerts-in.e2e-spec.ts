import { Cluster } from '../support/cluster';
import { waitFor } from '../support/orchestrator';

/**
 * Alerts in, with real agents: Alertmanager's webhook and the generic format, authenticated, mapped
 * to nodes by their labels; a firing alert is one observer's vote against its node (it completes a
 * quorum the replica alone cannot reach) and fails a scenario over on its own only where
 * policy.alerts.failover names it. Every change of state is an event; an unrenewed alert expires.
 */
describe('alerts in', () => {
  const c = new Cluster({
    label: 'alertsin',
    addressPrefix: '127.0.7.2',
    agentPort: 17420,
    dnsPort: 15420,
    failoverMode: 'auto',
    // the replica alone cannot confirm production's loss: the orchestrator needs a second vote
    policy: { peerQuorum: 2, holdDownMs: 0 },
    orchestratorEnv: { ALERTS_FIRING_TTL_S: '6' },
  });
  let alerter = '';
  let viewer = '';

  beforeAll(async () => {
    await c.start();
    alerter = (await c.api('POST', '/api/v1/tokens', { name: 'alertmanager', role: 'alerter' })).body.token;
    viewer = (await c.api('POST', '/api/v1/tokens', { name: 'alerts-viewer', role: 'viewer' })).body.token;
  });
  afterAll(() => c.close());

  const post = async (path: string, body: unknown, token: string | null = alerter, raw = false) => {
    const r = await fetch(`${c.o.url}${path}`, {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        ...(token !== null && { authorization: `Bearer ${token}` }),
      },
      body: raw ? (body as string) : JSON.stringify(body),
    });
    const text = await r.text();
    return { status: r.status, body: text ? JSON.parse(text) : null };
  };
  const am = (alerts: Record<string, unknown>[], status = 'firing') => ({
    version: '4',
    groupKey: '{}:{alertname="X"}',
    status,
    receiver: 'ha',
    groupLabels: {},
    commonLabels: {},
    commonAnnotations: {},
    externalURL: 'http://alertmanager.example:9093',
    alerts,
  });
  const events = async (kind: string) =>
    (await c.api('GET', `/api/v1/events?kind=${kind}&limit=100`)).body.items as any[];
  const alertCount = async () => (await c.api('GET', '/api/v1/alerts?limit=1')).body.total as number;

  it('refuses bad payloads with a 400 naming the field, no token with 401, other roles with 403; nothing is stored', async () => {
    const bad: [string, unknown, RegExp][] = [
      ['/api/v1/alerts/alertmanager', {}, /alerts/],
      ['/api/v1/alerts/alertmanager', { alerts: 'x' }, /alerts/],
      ['/api/v1/alerts/alertmanager', { alerts: [[]] }, /alerts/],
      [
        '/api/v1/alerts/alertmanager',
        am([{ status: 'firing', labels: { severity: 'critical' } }]),
        /alertname/,
      ],
      ['/api/v1/alerts/alertmanager', am([{ status: 'burning', labels: { alertname: 'X' } }]), /status/],
      ['/api/v1/alerts/alertmanager', am([{ status: 'firing', labels: { alertname: 'X', n: 1 } }]), /labels/],
      [
        '/api/v1/alerts/alertmanager',
        am([{ status: 'firing', labels: { alertname: 'X' }, startsAt: 'soon' }]),
        /startsAt/,
      ],
      [
        '/api/v1/alerts/alertmanager',
        am([{ status: 'firing', labels: { alertname: 'X' }, fingerprint: 'a b' }]),
        /fingerprint/,
      ],
      [
        '/api/v1/alerts/alertmanager',
        am(Array.from({ length: 501 }, () => ({ status: 'firing', labels: { alertname: 'X' } }))),
        /alerts/,
      ],
      ['/api/v1/alerts', { alerts: [{ status: 'firing', node: 'x' }] }, /name/],
      ['/api/v1/alerts', { alerts: [{ name: 'X', status: 'firing', id: '../etc' }] }, /id/],
      ['/api/v1/alerts', { alerts: [{ name: 'X', status: 'firing', node: 7 }] }, /node/],
      ['/api/v1/alerts', [{ name: 'X', status: 'firing' }], /alerts/],
    ];
    for (const [path, body, message] of bad) {
      const r = await post(path, body);
      expect({ path, body, status: r.status }).toEqual({ path, body, status: 400 });
      expect(JSON.stringify(r.body)).toMatch(message);
    }
    const malformed = await post('/api/v1/alerts/alertmanager', '{"alerts": [', alerter, true);
    expect(malformed.status).toBe(400);
    const sample = am([{ status: 'firing', labels: { alertname: 'X', ha_node: c.production.name } }]);
    expect((await post('/api/v1/alerts/alertmanager', sample, null)).status).toBe(401);
    expect((await post('/api/v1/alerts/alertmanager', sample, 'not-a-token-0123456789')).status).toBe(401);
    expect((await post('/api/v1/alerts/alertmanager', sample, viewer)).status).toBe(403);
    expect((await post('/api/v1/alerts', { alerts: [] }, viewer)).status).toBe(403);
    // the alerter token opens nothing else
    const asAlerter = await fetch(`${c.o.url}/api/v1/scenarios`, {
      headers: { authorization: `Bearer ${alerter}` },
    });
    expect(asAlerter.status).toBe(403);
    expect((await post(`/api/v1/scenarios/${c.scenarioId}/failover`, { reason: 'x' })).status).toBe(403);
    expect(await alertCount()).toBe(0);
    expect((await c.api('GET', '/api/v1/alerts/00000000-0000-4000-8000-000000000000')).status).toBe(404);
  });

  it('maps an Alertmanager alert by instance address, announces it once, keeps senders apart, resolves it', async () => {
    const alert = {
      status: 'firing',
      labels: { alertname: 'NodeHighLoad', severity: 'warning', instance: `${c.production.address}:9100` },
      annotations: { summary: 'load 40' },
      startsAt: new Date().toISOString(),
      endsAt: '0001-01-01T00:00:00Z',
      fingerprint: 'f00dfeed01',
    };
    const r = await post('/api/v1/alerts/alertmanager', am([alert]));
    expect(r.status).toBe(200);
    expect(r.body.alerts[0]).toMatchObject({
      name: 'NodeHighLoad',
      state: 'firing',
      mapped: true,
      nodeId: c.production.id,
      change: 'new',
    });
    expect(r.body.alerts[0].mapping).toMatch(/address of node/);
    const again = await post('/api/v1/alerts/alertmanager', am([alert]));
    expect(again.body.alerts[0].change).toBe('repeated');

    const firing = await waitFor(
      'firing event',
      async () => (await events('external-alert-firing'))[0],
      10000,
    );
    expect(firing).toMatchObject({ nodeId: c.production.id, severity: 'warning' });
    expect(firing.message).toMatch(/NodeHighLoad from alertmanager/);
    expect(await events('external-alert-firing')).toHaveLength(1);
    const listed = (await c.api('GET', `/api/v1/alerts?state=firing&nodeId=${c.production.id}`)).body;
    expect(listed.items[0]).toMatchObject({
      fingerprint: 'f00dfeed01',
      receivedCount: 2,
      observer: 'alertmanager',
    });

    // another sender's alert with the same fingerprint is its own alert: it cannot resolve this one
    const other = (await c.api('POST', '/api/v1/tokens', { name: 'alertmanager-b', role: 'alerter' })).body
      .token;
    const foreign = await post(
      '/api/v1/alerts/alertmanager',
      am([{ ...alert, status: 'resolved' }], 'resolved'),
      other,
    );
    expect(foreign.body.alerts[0]).toMatchObject({ change: 'new', state: 'resolved' });
    expect((await c.api('GET', `/api/v1/alerts/${r.body.alerts[0].id}`)).body.state).toBe('firing');
    // a severity label longer than the column is cut, not a 500 (the generic field is bounded: 400)
    const verbose = {
      status: 'firing',
      labels: { alertname: 'Verbose', ha_node: 'replica1', severity: 'x'.repeat(2000) },
    };
    const long = await post('/api/v1/alerts/alertmanager', am([verbose]));
    expect(long.status).toBe(200);
    expect((await c.api('GET', `/api/v1/alerts/${long.body.alerts[0].id}`)).body.severity).toHaveLength(64);
    await post('/api/v1/alerts/alertmanager', am([{ ...verbose, status: 'resolved' }], 'resolved'));
    const tooLong = await post('/api/v1/alerts', {
      alerts: [{ name: 'Verbose', status: 'firing', node: 'replica1', severity: 'x'.repeat(65) }],
    });
    expect(tooLong.status).toBe(400);
    expect(JSON.stringify(tooLong.body)).toMatch(/severity/);

    const resolved = await post(
      '/api/v1/alerts/alertmanager',
      am([{ ...alert, status: 'resolved', endsAt: new Date().toISOString() }], 'resolved'),
    );
    expect(resolved.body.alerts[0]).toMatchObject({ state: 'resolved', change: 'changed' });
    await waitFor('resolved event', async () => (await events('external-alert-resolved'))[0], 10000);

    // unmapped alerts are kept and announced, but count against nobody
    const unmapped = await post('/api/v1/alerts', {
      alerts: [{ name: 'Elsewhere', status: 'firing', node: 'no-such-node' }],
    });
    expect(unmapped.body.alerts[0]).toMatchObject({ mapped: false, nodeId: null });
    expect(unmapped.body.alerts[0].mapping).toMatch(/no node named/);
  });

  it('expires a firing alert that is not sent again within ALERTS_FIRING_TTL_S', async () => {
    const r = await post('/api/v1/alerts', {
      alerts: [{ name: 'Flaky', status: 'firing', node: c.replica.name, id: 'flaky-1' }],
    });
    expect(r.body.alerts[0].mapped).toBe(true);
    const expired = await waitFor(
      'expired event',
      async () =>
        (await events('external-alert-expired')).find(
          (e) => e.details?.name === 'Flaky' || /Flaky/.test(e.message),
        ),
      30000,
    );
    expect(expired.nodeId).toBe(c.replica.id);
    const row = (await c.api('GET', `/api/v1/alerts/${r.body.alerts[0].id}`)).body;
    expect(row.state).toBe('expired');
  });

  it('fails over on a firing alert only where policy.alerts.failover names it', async () => {
    const patch = await c.api('PATCH', `/api/v1/scenarios/${c.scenarioId}`, {
      policy: { alerts: { failover: true, names: ['ServiceDown'] } },
    });
    expect(patch.status).toBe(200);
    // a policy naming no alert is refused
    const badPolicy = await c.api('PATCH', `/api/v1/scenarios/${c.scenarioId}`, {
      policy: { alerts: { failover: true, names: [] } },
    });
    expect(badPolicy.status).toBe(400);
    expect(JSON.stringify(badPolicy.body)).toMatch(/names/);

    // another alert about the active node: a vote, no failover
    await post('/api/v1/alerts', {
      alerts: [{ name: 'DiskSlow', status: 'firing', node: c.production.name }],
    });
    await new Promise((res) => setTimeout(res, 2500));
    expect((await c.scenario()).activeNodeId).toBe(c.production.id);

    const fired = await post('/api/v1/alerts', {
      alerts: [
        { name: 'ServiceDown', status: 'firing', scenario: 'orders', severity: 'critical', id: 'svc-down' },
      ],
    });
    expect(fired.body.alerts[0]).toMatchObject({ nodeId: c.production.id, scenarioId: c.scenarioId });
    await c.waitDns(c.replica.address);
    const s = await c.waitState('failed_over');
    // an alert about the scenario that started before users moved is not pinned on the new active node
    const late = await post('/api/v1/alerts', {
      alerts: [
        {
          name: 'LateArrival',
          status: 'firing',
          scenario: 'orders',
          startsAt: new Date(Date.now() - 60_000).toISOString(),
        },
      ],
    });
    expect(late.body.alerts[0]).toMatchObject({ mapped: false, nodeId: null });
    expect(late.body.alerts[0].mapping).toMatch(/started before users last moved/);
    const fresh = await post('/api/v1/alerts', {
      alerts: [{ name: 'AfterMove', status: 'resolved', scenario: 'orders' }],
    });
    expect(fresh.body.alerts[0]).toMatchObject({ nodeId: c.replica.id });
    expect(s.activeNodeId).toBe(c.replica.id);
    const op = (await c.operations()).find((o) => o.type === 'failover');
    expect(op).toMatchObject({ trigger: 'auto' });
    expect(op.reason).toMatch(/alert ServiceDown/);
    // production's agent was alive: it demoted itself (the fence was its demote)
    expect(c.actionsLog(c.production).some((l) => /demote/.test(l))).toBe(true);
    const requested = (await events('failover-requested')).find((e) => e.scenarioId === c.scenarioId);
    expect(requested.message).toMatch(/policy\.alerts\.failover/);

    // resolved; users moved back by the operator
    await post('/api/v1/alerts', { alerts: [{ name: 'ServiceDown', status: 'resolved', id: 'svc-down' }] });
    await post('/api/v1/alerts', {
      alerts: [{ name: 'DiskSlow', status: 'resolved', node: c.production.name }],
    });
    await waitFor(
      'old production demoted',
      async () => (await c.agentStatus(c.production))?.scenarios?.[0]?.role === 'demoted',
      20000,
    );
    const fb = await c.api('POST', `/api/v1/scenarios/${c.scenarioId}/failback`, {
      reason: 'service repaired',
    });
    expect(fb.status).toBe(202);
    expect((await c.waitOperation(fb.body.id, 60000)).state).toBe('succeeded');
    await c.waitDns(c.production.address);
    const off = await c.api('PATCH', `/api/v1/scenarios/${c.scenarioId}`, { policy: { alerts: null } });
    expect(off.status).toBe(200);
  });

  it('a firing alert completes the quorum the replica alone cannot: production killed, the alert is the second vote', async () => {
    await waitFor('running again', async () => (await c.scenario()).state === 'running', 30000);
    await c.production.agent!.kill();
    // the orchestrator and the replica lost it: 1 of 2 votes, suspect, no failover
    const health = async () => (await c.api('GET', `/api/v1/nodes/${c.production.id}/health`)).body;
    const suspect = await waitFor(
      'no quorum',
      async () => {
        const h = await health();
        return h.verdict === 'suspect' && /1\/2 peer/.test(h.evidence?.reason ?? '') ? h : null;
      },
      30000,
    );
    expect(suspect.evidence.reason).toMatch(/1\/2 peer confirmations/);
    // a warning is no vote: still 1 of 2
    await post('/api/v1/alerts', {
      alerts: [{ name: 'NodeHighLoad', status: 'firing', node: c.production.name, severity: 'warning' }],
    });
    await new Promise((res) => setTimeout(res, 2000));
    expect((await health()).evidence.reason).toMatch(/1\/2 peer confirmations/);
    expect((await c.scenario()).activeNodeId).toBe(c.production.id);

    const r = await post(
      '/api/v1/alerts/alertmanager',
      am([
        {
          status: 'firing',
          labels: { alertname: 'PostgresDown', ha_node: c.production.name, severity: 'critical' },
        },
      ]),
    );
    expect(r.body.alerts[0]).toMatchObject({ mapped: true, nodeId: c.production.id });
    await c.waitDns(c.replica.address);
    const failed = await health();
    expect(failed.verdict).toBe('failed');
    expect(
      failed.evidence.observers.some(
        (o: any) => /^alert:alertmanager \(PostgresDown\)/.test(o.observer) && !o.reachable,
      ),
    ).toBe(true);
    expect(failed.evidence.reason).toMatch(/2 peer\(s\) lost the node/);
  });
});
