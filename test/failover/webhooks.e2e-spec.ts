import { createHmac } from 'node:crypto';
import { createServer, IncomingMessage, Server } from 'node:http';
import { AddressInfo } from 'node:net';
import { Cluster } from '../support/cluster';
import { waitFor } from '../support/orchestrator';

interface Received {
  headers: IncomingMessage['headers'];
  raw: string;
  body: { kind: string; operationId?: string; scenarioId?: string; message: string };
}

/** Operation outcomes and alerts reach the NOC's webhook, signed, retried until accepted. */
describe('webhook notifications', () => {
  const SECRET = 'webhook-secret-0123456789';
  const received: Received[] = [];
  let failNext = 1; // the first delivery gets a 500: it must be retried
  let server: Server;
  let c: Cluster;

  beforeAll(async () => {
    server = createServer((req, res) => {
      let raw = '';
      req.on('data', (d) => (raw += d));
      req.on('end', () => {
        if (failNext > 0) {
          failNext--;
          res.writeHead(500).end();
          return;
        }
        received.push({ headers: req.headers, raw, body: JSON.parse(raw) });
        res.writeHead(204).end();
      });
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/hooks/ha`;
    c = new Cluster({
      label: 'webhooks',
      addressPrefix: '127.0.0.14',
      agentPort: 17140,
      dnsPort: 15140,
      failoverMode: 'manual',
      orchestratorEnv: { WEBHOOK_URLS: url, WEBHOOK_SECRET: SECRET },
    });
    await c.start();
  });
  afterAll(async () => {
    await c?.close();
    await new Promise((r) => server.close(r));
  });

  it('sends each operation outcome once, signed, after retrying a failed delivery; alerts too', async () => {
    const r = await c.api('POST', `/api/v1/scenarios/${c.scenarioId}/failover`, { reason: 'webhook test' });
    expect((await c.waitOperation(r.body.id)).state).toBe('succeeded');
    const hook = await waitFor(
      'failover webhook',
      async () =>
        received.find((x) => x.body.kind === 'operation-succeeded' && x.body.operationId === r.body.id),
      30000,
    );
    // Signed over "<X-HA-Timestamp>.<body>" with WEBHOOK_SECRET (docs/webhooks.md).
    const ts = String(hook.headers['x-ha-timestamp']);
    const expected = `sha256=${createHmac('sha256', SECRET).update(`${ts}.${hook.raw}`).digest('hex')}`;
    expect(hook.headers['x-ha-signature']).toBe(expected);
    // WEBHOOK_URLS is the bootstrap subscription env-1 (the secret never shown).
    const subs = (await c.api('GET', '/api/v1/webhooks')).body.items;
    expect(subs).toEqual([
      expect.objectContaining({ name: 'env-1', source: 'env', secretSet: true, kinds: [] }),
    ]);
    expect(JSON.stringify(subs)).not.toContain(SECRET);
    expect(hook.headers['x-ha-event']).toBe('operation-succeeded');
    expect(hook.body.scenarioId).toBe(c.scenarioId);
    expect(failNext).toBe(0); // a 500 happened and was retried

    // The scenario start also succeeded: its webhook came too. Each operation exactly once.
    await new Promise((res) => setTimeout(res, 1000));
    const perOp = received
      .filter((x) => x.body.kind === 'operation-succeeded')
      .map((x) => x.body.operationId);
    expect(new Set(perOp).size).toBe(perOp.length);

    // A dead active node after a failover raises an alert webhook (no automatic failover back).
    await c.replica.agent!.kill();
    const alert = await waitFor(
      'alert webhook',
      async () => received.find((x) => x.body.kind === 'alert'),
      30000,
    );
    expect(alert.body.message).toMatch(/waiting for an operator/);
  });
});
