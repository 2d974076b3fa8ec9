/**
 * The orchestrator's own network checks against real listeners on the node addresses: tcp (a port
 * the test opens and closes), http (a tiny server answering 200 or 500 on demand), ping, and
 * database (the local PostgreSQL). A failing network check is a reachability question, so with the
 * replica still hearing production the verdict is `suspect`, never `failed` (auto mode: no failover).
 * Real agents on 127.0.0.91-92 (port 17911), DNS on 15911, test listeners on ports 17916-17917.
 */
import { createServer, Server as HttpServer } from 'node:http';
import net from 'node:net';
import { Cluster } from '../support/cluster';
import { check, events, Health, verdictChanges, waitHealth } from './detection-helpers';

const INTERVAL = 300;
const HTTP_PORT = 17916;
const TCP_PORT = 17917;
const NETWORK = ['tcp', 'http', 'ping', 'database'];

class TestHttp {
  status = 200;
  body = 'ok';
  server: HttpServer | null = null;
  constructor(readonly host: string) {}
  async start(): Promise<void> {
    this.server = createServer((_req, res) => res.writeHead(this.status).end(this.body));
    await new Promise<void>((resolve) => this.server!.listen(HTTP_PORT, this.host, resolve));
  }
  async stop(): Promise<void> {
    this.server?.closeAllConnections();
    await new Promise<void>((resolve) => (this.server ? this.server.close(() => resolve()) : resolve()));
  }
}

class TestTcp {
  server: net.Server | null = null;
  constructor(readonly host: string) {}
  async open(): Promise<void> {
    this.server = net.createServer((s) => s.on('error', () => undefined).resume());
    await new Promise<void>((resolve) => this.server!.listen(TCP_PORT, this.host, resolve));
  }
  async close(): Promise<void> {
    const s = this.server;
    this.server = null;
    await new Promise<void>((resolve) => (s ? s.close(() => resolve()) : resolve()));
  }
}

const checks = (dbExpect = '1') => [
  { name: 'heartbeat', kind: 'heartbeat', intervalMs: INTERVAL, ttlMs: 4 * INTERVAL },
  {
    name: 'tcp',
    kind: 'tcp',
    port: TCP_PORT,
    intervalMs: 200,
    timeoutMs: 500,
    failureThreshold: 2,
    recoveryThreshold: 2,
  },
  {
    name: 'http',
    kind: 'http',
    target: `http://{address}:${HTTP_PORT}/health`,
    expectStatus: 200,
    expectBody: 'ok',
    intervalMs: 200,
    timeoutMs: 500,
    failureThreshold: 2,
    recoveryThreshold: 2,
  },
  { name: 'ping', kind: 'ping', intervalMs: 500, timeoutMs: 1000, failureThreshold: 2, recoveryThreshold: 2 },
  {
    name: 'database',
    kind: 'database',
    target: 'postgres://postgres@127.0.0.1:5432/postgres',
    query: 'select 1',
    expectResult: dbExpect,
    intervalMs: 300,
    timeoutMs: 2000,
    failureThreshold: 2,
    recoveryThreshold: 2,
  },
];

describe('detection: network checks run by the orchestrator', () => {
  const http = [new TestHttp('127.0.0.91'), new TestHttp('127.0.0.92')];
  const tcp = [new TestTcp('127.0.0.91'), new TestTcp('127.0.0.92')];
  const c = new Cluster({
    label: 'detnetchecks',
    addressPrefix: '127.0.0.9',
    agentPort: 17911,
    dnsPort: 15911,
    failoverMode: 'auto',
    heartbeatIntervalMs: INTERVAL,
    checks: checks(),
    policy: { recoveryHoldMs: 1000 },
  });
  const allPassing = (h: Health) =>
    h.verdict === 'healthy' && NETWORK.every((n) => check(h, n)?.state === 'passing');

  beforeAll(async () => {
    for (const s of [...http, ...tcp]) await ('open' in s ? s.open() : s.start());
    await c.start();
  });
  afterAll(async () => {
    await c.close();
    for (const s of [...http, ...tcp]) await ('close' in s ? s.close() : s.stop());
  });

  async function expectSuspectNotFailed(failing: string, output: RegExp): Promise<void> {
    const h = await waitHealth(
      c,
      c.production,
      `${failing} failing`,
      (x) => check(x, failing)?.state === 'failing',
    );
    expect(check(h, failing)!.lastStatus).toBe('critical');
    expect(check(h, failing)!.consecutiveFailures).toBeGreaterThanOrEqual(2);
    expect(check(h, failing)!.lastOutput).toMatch(output);
    for (const other of NETWORK.filter((n) => n !== failing)) expect(check(h, other)!.state).toBe('passing');
    const s = await waitHealth(c, c.production, 'suspect', (x) => x.verdict === 'suspect');
    expect(s.evidence!.view).toBe('down');
    expect(s.evidence!.reason).toMatch(/still reach it/);
  }

  it('every check passes on both nodes, with its output as evidence', async () => {
    const h = await waitHealth(c, c.production, 'all network checks passing', allPassing);
    expect(check(h, 'tcp')).toMatchObject({
      lastStatus: 'ok',
      lastOutput: `connected to 127.0.0.91:${TCP_PORT}`,
    });
    expect(check(h, 'http')).toMatchObject({ lastStatus: 'ok', lastOutput: 'status 200' });
    expect(check(h, 'ping')!.lastOutput).toMatch(/^rtt /);
    expect(check(h, 'database')).toMatchObject({ lastStatus: 'ok', lastOutput: 'query returned 1' });
    await waitHealth(c, c.replica, 'all network checks passing', allPassing);
  });

  it('http answers 500 → failing after the threshold → suspect (the replica still reaches it); recovers', async () => {
    http[0].status = 500;
    await expectSuspectNotFailed('http', /status 500, expected 200/);
    http[0].status = 200;
    await waitHealth(c, c.production, 'healthy again', allPassing);
  });

  it('http 200 without the expected body → failing; recovers', async () => {
    http[0].body = 'degraded';
    await expectSuspectNotFailed('http', /expected body was not found/);
    http[0].body = 'ok';
    await waitHealth(c, c.production, 'healthy again', allPassing);
  });

  it('tcp port closed → failing (connection refused) → suspect; reopened → healthy', async () => {
    await tcp[0].close();
    await expectSuspectNotFailed('tcp', /ECONNREFUSED/);
    await tcp[0].open();
    await waitHealth(c, c.production, 'healthy again', allPassing);
  });

  it('a changed database check (other expected result) applies at once; changing it back recovers', async () => {
    const patched = await c.api('PATCH', `/api/v1/scenarios/${c.scenarioId}`, { checks: checks('2') });
    expect(patched.status).toBe(200);
    await expectSuspectNotFailed('database', /query returned 1, expected 2/);
    await c.api('PATCH', `/api/v1/scenarios/${c.scenarioId}`, { checks: checks('1') });
    await waitHealth(c, c.production, 'healthy again', allPassing);
  });

  it('through all of it: never failed, no failover, events record suspect and recovery', async () => {
    const changes = await verdictChanges(c, c.production);
    expect(changes).toContain('healthy→suspect');
    expect(changes).toContain('suspect→healthy');
    expect(changes.some((x) => x.endsWith('→failed'))).toBe(false);
    // The only decisions were not to act: production was down to the orchestrator's probes while
    // its replica still reached it (no quorum), recorded once per episode, no alert, no failover.
    const decided = (await events(c, `scenarioId=${c.scenarioId}`)).filter((e) =>
      /alert|failover/.test(e.kind),
    );
    expect(new Set(decided.map((e) => e.kind))).toEqual(new Set(decided.length ? ['failover-withheld'] : []));
    const records = (await c.api('GET', `/api/v1/scenarios/${c.scenarioId}/decisions`)).body.items;
    expect(records.map((d: { rule: string }) => d.rule)).toEqual(decided.map(() => 'no-quorum'));
    expect((await c.operations()).map((o) => o.type)).toEqual(['start']);
    expect(await c.dnsAnswer()).toEqual([c.production.address]);
    // The database change applied to the replica too: it recovers the same way.
    await waitHealth(c, c.replica, 'healthy again', allPassing);
    const status = await c.api('GET', `/api/v1/scenarios/${c.scenarioId}/status`);
    expect(status.body.nodes.map((n: { verdict: string }) => n.verdict)).toEqual(['healthy', 'healthy']);
  });
});
