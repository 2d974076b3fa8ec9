import { createHmac } from 'node:crypto';
import { createServer, IncomingMessage, Server, ServerResponse } from 'node:http';
import { AddressInfo } from 'node:net';
import { Cluster } from '../support/cluster';
import { waitFor } from '../support/orchestrator';

interface Hit {
  path: string;
  headers: IncomingMessage['headers'];
  raw: string;
  body: { id: string; kind: string; scenarioId?: string; operationId?: string; details?: any };
}

/**
 * Webhook subscriptions through the API: filters, signatures over timestamp and body, the delivery
 * log, dead letters and redelivery, and a receiver that hangs without slowing a failover.
 */
describe('webhook subscriptions', () => {
  const SECRET = 'subscription-secret-0123456789';
  const hits: Hit[] = [];
  /** per path: what the receiver does */
  const behaviour = new Map<string, 'ok' | 'fail' | 'hang'>();
  const hanging: ServerResponse[] = [];
  let server: Server;
  let base: string;
  const c = new Cluster({
    label: 'webhooksubs',
    addressPrefix: '127.0.0.24',
    agentPort: 17240,
    dnsPort: 15240,
    failoverMode: 'manual',
  });

  beforeAll(async () => {
    server = createServer((req, res) => {
      let raw = '';
      req.on('data', (d) => (raw += d));
      req.on('end', () => {
        const path = req.url ?? '/';
        const b = behaviour.get(path) ?? 'ok';
        if (b === 'hang') {
          hanging.push(res); // answered only when the test ends (30 s and more)
          return;
        }
        hits.push({ path, headers: req.headers, raw, body: JSON.parse(raw) });
        res.writeHead(b === 'fail' ? 500 : 204).end();
      });
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    await c.start();
  });
  afterAll(async () => {
    for (const res of hanging) res.destroy();
    await c.close();
    server.closeAllConnections();
    await new Promise((r) => server.close(r));
  });

  const subscribe = async (body: Record<string, unknown>) => {
    const r = await c.api('POST', '/api/v1/webhooks', body);
    expect(r.status).toBe(201);
    return r.body;
  };
  const deliveries = async (id: string, q = '') =>
    (await c.api('GET', `/api/v1/webhooks/${id}/deliveries${q}`)).body.items as any[];

  it('refuses bad subscriptions with a 4xx naming the problem, and changes nothing', async () => {
    const before = (await c.api('GET', '/api/v1/webhooks')).body.total;
    const audit = (await c.api('GET', '/api/v1/audit?limit=1')).body.total;
    const bad: [Record<string, unknown>, number, RegExp][] = [
      [{ name: 'x', url: 'ftp://example.com/h' }, 400, /url/],
      [{ name: 'x', url: 'not a url' }, 400, /url/],
      [{ name: 'x', url: `${base}/a`, kinds: ['no-such-kind'] }, 400, /kinds/],
      [{ name: 'x', url: `${base}/a`, kinds: 'alert' }, 400, /kinds/],
      [{ name: 'x', url: `${base}/a`, scenarioId: '00000000-0000-4000-8000-000000000000' }, 400, /scenario/],
      [{ name: 'x', url: `${base}/a`, scenarioId: c.scenarioId, groupId: c.scenarioId }, 400, /groupId/],
      [{ name: 'x', url: `${base}/a`, secret: 'short' }, 400, /secret/],
      [{ name: 'x', url: `${base}/a`, maxAttempts: 0 }, 400, /maxAttempts/],
      [{ name: 'x', url: `${base}/a`, timeoutMs: 60_000 }, 400, /timeoutMs/],
      [{ name: 'env-1', url: `${base}/a` }, 400, /WEBHOOK_URLS/],
      [{ name: 'has space', url: `${base}/a` }, 400, /name/],
      [{ name: 'x', url: `${base}/a`, extra: 1 }, 400, /extra/],
      [{ url: `${base}/a` }, 400, /name/],
    ];
    for (const [body, status, message] of bad) {
      const r = await c.api('POST', '/api/v1/webhooks', body);
      expect({ body, status: r.status }).toEqual({ body, status });
      expect(JSON.stringify(r.body)).toMatch(message);
    }
    const viewer = (await c.api('POST', '/api/v1/tokens', { name: 'hooks-viewer', role: 'viewer' })).body
      .token;
    const asViewer = await fetch(`${c.o.url}/api/v1/webhooks`, {
      headers: { authorization: `Bearer ${viewer}` },
    });
    expect(asViewer.status).toBe(403);
    const unknown = '00000000-0000-4000-8000-000000000001';
    expect((await c.api('GET', `/api/v1/webhooks/${unknown}`)).status).toBe(404);
    expect((await c.api('PATCH', `/api/v1/webhooks/${unknown}`, { enabled: false })).status).toBe(404);
    expect((await c.api('DELETE', `/api/v1/webhooks/${unknown}`)).status).toBe(404);
    expect((await c.api('GET', `/api/v1/webhooks/not-a-uuid`)).status).toBe(400);
    expect((await c.api('GET', '/api/v1/webhooks')).body.total).toBe(before);
    // the viewer token's creation is the one audit entry
    expect((await c.api('GET', '/api/v1/audit?limit=1')).body.total).toBe(audit + 1);

    const s = await subscribe({ name: 'dup', url: `${base}/dup`, secret: SECRET });
    expect(s).toMatchObject({ name: 'dup', secretSet: true, enabled: true, kinds: [], source: 'api' });
    expect(JSON.stringify(s)).not.toContain(SECRET);
    expect((await c.api('POST', '/api/v1/webhooks', { name: 'dup', url: `${base}/b` })).status).toBe(409);
    const patched = await c.api('PATCH', `/api/v1/webhooks/${s.id}`, { enabled: false, kinds: ['alert'] });
    expect(patched.status).toBe(200);
    expect(patched.body).toMatchObject({ enabled: false, kinds: ['alert'], url: `${base}/dup` });
    expect((await c.api('PATCH', `/api/v1/webhooks/${s.id}`, { url: 'gopher://x' })).status).toBe(400);
    expect((await c.api('POST', `/api/v1/webhooks/${s.id}/ping`)).status).toBe(409); // disabled
    expect((await c.api('DELETE', `/api/v1/webhooks/${s.id}`)).status).toBe(204);
    expect((await c.api('GET', `/api/v1/webhooks/${s.id}`)).status).toBe(404);
  });

  it('delivers the kinds and scope asked for, signed over timestamp and body, and logs each delivery', async () => {
    const wanted = await subscribe({
      name: 'noc-outcomes',
      url: `${base}/outcomes`,
      kinds: ['operation-started', 'step-finished', 'operation-succeeded'],
      scenarioId: c.scenarioId,
      secret: SECRET,
    });
    const group = (await c.api('POST', '/api/v1/groups', { name: 'empty-site' })).body;
    await subscribe({ name: 'other-group', url: `${base}/other`, groupId: group.id });
    await subscribe({ name: 'alerts-only', url: `${base}/alerts`, kinds: ['alert'] });

    const r = await c.api('POST', `/api/v1/scenarios/${c.scenarioId}/failover`, {
      reason: 'webhook subscriptions',
    });
    expect((await c.waitOperation(r.body.id)).state).toBe('succeeded');
    const done = await waitFor(
      'operation-succeeded webhook',
      async () => hits.find((h) => h.path === '/outcomes' && h.body.kind === 'operation-succeeded'),
      30000,
    );
    expect(done.body).toMatchObject({ operationId: r.body.id, scenarioId: c.scenarioId });
    const ts = done.headers['x-ha-timestamp'] as string;
    expect(Math.abs(Number(ts) - Date.now() / 1000)).toBeLessThan(60);
    const expected = `sha256=${createHmac('sha256', SECRET).update(`${ts}.${done.raw}`).digest('hex')}`;
    expect(done.headers['x-ha-signature']).toBe(expected);
    expect(done.headers['x-ha-event-id']).toBe(done.body.id);
    expect(done.headers['x-ha-event']).toBe('operation-succeeded');

    // The operation's progress came too: started, then each step as it finished.
    const ours = hits.filter((h) => h.path === '/outcomes' && h.body.operationId === r.body.id);
    // (Deliveries run in parallel: a receiver orders by `at`, not by arrival.)
    expect(ours.filter((h) => h.body.kind === 'operation-started')).toHaveLength(1);
    const steps = ours.filter((h) => h.body.kind === 'step-finished').map((h) => h.body.details.step);
    expect(steps).toEqual(expect.arrayContaining(['lock-epoch', 'fence', 'promote', 'redirect-dns']));
    // Nothing for a group the scenario is not in, nor for kinds not asked for.
    await new Promise((res) => setTimeout(res, 1000));
    expect(hits.filter((h) => h.path === '/other' || h.path === '/alerts')).toEqual([]);

    const log = await waitFor(
      'delivery log',
      async () => {
        const items = await deliveries(wanted.id);
        return items.length === ours.length && items.every((d) => d.state === 'succeeded') && items;
      },
      15000,
    );
    expect(log[0]).toMatchObject({ state: 'succeeded', attempts: 1, responseStatus: 204, error: null });
    expect(typeof log[0].latencyMs).toBe('number');
    expect(log[0].body).toBeUndefined();
    const one = (await c.api('GET', `/api/v1/webhooks/${wanted.id}/deliveries/${log[0].id}`)).body;
    expect(one.body.id).toBe(one.eventId);
    expect((await c.api('GET', `/api/v1/webhooks/${wanted.id}/deliveries?state=dead`)).body.total).toBe(0);
    expect((await c.api('GET', `/api/v1/webhooks/${wanted.id}/deliveries?state=lost`)).status).toBe(400);
  });

  it('a delivery that keeps failing goes dead after maxAttempts; redelivered, it arrives with the same event id', async () => {
    behaviour.set('/flaky', 'fail');
    const s = await subscribe({ name: 'flaky', url: `${base}/flaky`, maxAttempts: 2 });
    const ping = await c.api('POST', `/api/v1/webhooks/${s.id}/ping`);
    expect(ping.status).toBe(202);
    const dead = await waitFor(
      'dead delivery',
      async () => (await deliveries(s.id, '?state=dead'))[0],
      30000,
    );
    expect(dead).toMatchObject({ id: ping.body.id, kind: 'ping', attempts: 2, responseStatus: 500 });
    expect(dead.error).toMatch(/500/);
    expect(hits.filter((h) => h.path === '/flaky').length).toBe(2);

    behaviour.set('/flaky', 'ok');
    const again = await c.api('POST', `/api/v1/webhooks/${s.id}/deliveries/${dead.id}/redeliver`, {
      reason: 'receiver fixed',
    });
    expect(again.status).toBe(202);
    expect(again.body).toMatchObject({ redeliveryOf: dead.id, eventId: dead.eventId, state: 'pending' });
    const ok = await waitFor(
      'redelivery',
      async () => {
        const d = (await deliveries(s.id)).find((x) => x.id === again.body.id);
        return d?.state === 'succeeded' && d;
      },
      15000,
    );
    expect(ok).toMatchObject({ attempts: 1, responseStatus: 204 });
    const sent = hits.filter((h) => h.path === '/flaky');
    expect(sent[sent.length - 1].headers['x-ha-event-id']).toBe(dead.eventId);
    const audit = (await c.api('GET', '/api/v1/audit?limit=5')).body.items;
    expect(audit.find((a: any) => a.action === 'webhook.redeliver')).toMatchObject({
      reason: 'receiver fixed',
    });
    // Unknown delivery, delivery of another subscription: 404.
    expect((await c.api('POST', `/api/v1/webhooks/${s.id}/deliveries/${s.id}/redeliver`, {})).status).toBe(
      404,
    );
  });

  it('a receiver that hangs for 30 s does not delay a failover', async () => {
    behaviour.set('/hang', 'hang');
    await subscribe({ name: 'hangs', url: `${base}/hang`, timeoutMs: 30000, maxAttempts: 1 });
    const started = Date.now();
    const r = await c.api('POST', `/api/v1/scenarios/${c.scenarioId}/failback`, { reason: 'hang test' });
    expect(r.status).toBe(202);
    const op = await c.waitOperation(r.body.id, 30000);
    const tookMs = Date.now() - started;
    expect(op.state).toBe('succeeded');
    expect(await c.dnsAnswer()).toEqual([c.production.address]);
    // The receiver still holds requests it has not answered: the failback did not wait for them.
    expect(hanging.length).toBeGreaterThan(0);
    expect(tookMs).toBeLessThan(20000);
  });
});
