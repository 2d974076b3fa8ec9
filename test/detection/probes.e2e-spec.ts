/**
 * runProbe against real local listeners and the local PostgreSQL: statuses and outputs of each kind,
 * timeouts, and that every check uses a fresh connection. Listeners on 127.0.0.1, ephemeral ports.
 */
import { createServer, Server } from 'node:http';
import net from 'node:net';
import { runProbe } from '../../apps/orchestrator/src/detection/probes';
import { ScenarioCheck } from '../../apps/orchestrator/src/scenarios/scenario.types';

const target = { address: '127.0.0.1' };
const base = { intervalMs: 1000, timeoutMs: 500, failureThreshold: 1, recoveryThreshold: 1 };
const tcpCheck = (port: number): ScenarioCheck => ({ ...base, name: 'tcp', kind: 'tcp', port });
const httpCheck = (url: string, extra: Partial<ScenarioCheck> = {}): ScenarioCheck => ({
  ...base,
  name: 'http',
  kind: 'http',
  target: url,
  ...extra,
});
const dbCheck = (extra: Partial<ScenarioCheck> = {}): ScenarioCheck => ({
  ...base,
  timeoutMs: 2000,
  name: 'db',
  kind: 'database',
  target: 'postgres://postgres@{address}:5432/postgres',
  query: 'select 1',
  expectResult: '1',
  ...extra,
});

async function listen(server: net.Server): Promise<number> {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return (server.address() as net.AddressInfo).port;
}

function close(server: net.Server): Promise<void> {
  return new Promise((resolve) => server.close(() => resolve()));
}

/** A port nothing listens on. */
async function freePort(): Promise<number> {
  const s = net.createServer();
  const port = await listen(s);
  await close(s);
  return port;
}

describe('probes', () => {
  it('tcp: a listening port → ok; a closed one → critical (connection refused)', async () => {
    const server = net.createServer((s) => s.on('error', () => undefined).resume());
    const port = await listen(server);
    try {
      expect(await runProbe(tcpCheck(port), target)).toMatchObject({
        status: 'ok',
        output: `connected to 127.0.0.1:${port}`,
      });
    } finally {
      await close(server);
    }
    const closed = await runProbe(tcpCheck(await freePort()), target);
    expect(closed).toMatchObject({ status: 'critical' });
    expect(closed.output).toMatch(/ECONNREFUSED/);
  });

  it('tcp/http/database without their port or target → unknown (we could not ask)', async () => {
    expect((await runProbe({ ...base, name: 't', kind: 'tcp' }, target)).status).toBe('unknown');
    expect((await runProbe({ ...base, name: 'h', kind: 'http' }, target)).status).toBe('unknown');
    expect((await runProbe({ ...base, name: 'd', kind: 'database' }, target)).status).toBe('unknown');
    expect((await runProbe(httpCheck('not a url'), target)).status).toBe('unknown');
    expect((await runProbe(httpCheck('ftp://{address}/x'), target)).status).toBe('unknown');
    expect((await runProbe({ ...base, name: 'u', kind: 'user' }, target)).status).toBe('unknown');
  });

  describe('http', () => {
    let server: Server;
    let port = 0;
    let status = 200;
    let body = 'ok';
    beforeAll(async () => {
      server = createServer((req, res) => {
        if (req.url === '/hang') return; // never answers
        if (req.url === '/big') {
          // The expected word sits after 1 MiB: the probe reads 64 KiB and stops.
          res.writeHead(200).end(`${'x'.repeat(1024 * 1024)}needle`);
          return;
        }
        res.writeHead(status).end(body);
      });
      server.keepAliveTimeout = 60000;
      port = await listen(server);
    });
    afterAll(async () => {
      server.closeAllConnections();
      await close(server);
    });
    const url = (path: string) => `http://{address}:${port}${path}`;

    it('expected status and body → ok; other status or missing body → critical', async () => {
      expect(await runProbe(httpCheck(url('/health'), { expectBody: 'ok' }), target)).toMatchObject({
        status: 'ok',
        output: 'status 200',
      });
      status = 503;
      expect(await runProbe(httpCheck(url('/health')), target)).toMatchObject({
        status: 'critical',
        output: 'status 503, expected 200',
      });
      expect((await runProbe(httpCheck(url('/health'), { expectStatus: 503 }), target)).status).toBe('ok');
      status = 200;
      body = 'degraded';
      expect((await runProbe(httpCheck(url('/health'), { expectBody: 'ok' }), target)).output).toMatch(
        /expected body was not found/,
      );
      body = 'ok';
    });

    it('a server that never answers → critical within the timeout', async () => {
      const r = await runProbe(httpCheck(url('/hang')), target);
      expect(r).toMatchObject({ status: 'critical' });
      expect(r.output).toMatch(/timed out after 500 ms/);
    });

    it('reads a bounded part of the body', async () => {
      const r = await runProbe(httpCheck(url('/big'), { expectBody: 'needle' }), target);
      expect(r.status).toBe('critical');
      expect(r.output).toMatch(/expected body was not found/);
    });

    it('each check opens a fresh connection: a server that stopped accepting fails the check', async () => {
      const other = createServer((_req, res) => res.writeHead(200).end('ok'));
      other.keepAliveTimeout = 60000;
      const otherPort = await listen(other);
      const check = httpCheck(`http://{address}:${otherPort}/`);
      expect((await runProbe(check, target)).status).toBe('ok');
      // close() stops accepting but keeps idle keep-alive connections open: a pooled client would still pass.
      const closed = close(other);
      const r = await runProbe(check, target);
      expect(r.status).toBe('critical');
      expect(r.output).toMatch(/ECONNREFUSED/);
      other.closeAllConnections();
      await closed;
    });
  });

  it('database: expected result → ok; another result, an SQL error or no server → critical', async () => {
    expect(await runProbe(dbCheck(), target)).toMatchObject({ status: 'ok', output: 'query returned 1' });
    expect(await runProbe(dbCheck({ expectResult: '2' }), target)).toMatchObject({
      status: 'critical',
      output: 'query returned 1, expected 2',
    });
    expect((await runProbe(dbCheck({ query: 'select nonsense from nowhere' }), target)).status).toBe(
      'critical',
    );
    const port = await freePort();
    const down = await runProbe(
      dbCheck({ target: `postgres://postgres@{address}:${port}/postgres` }),
      target,
    );
    expect(down.status).toBe('critical');
    expect(down.output).toMatch(/ECONNREFUSED/);
  });

  it('database over MySQL/MariaDB (mysql2): the local MariaDB answers, a wrong expectation or no server is critical', async () => {
    const my = (extra: Partial<ScenarioCheck> = {}) =>
      dbCheck({
        target: 'mysql://root@{address}:3306/mysql',
        query: 'select 1+1',
        expectResult: '2',
        ...extra,
      });
    expect(await runProbe(my(), target)).toMatchObject({ status: 'ok', output: 'query returned 2' });
    expect(await runProbe(my({ expectResult: '3' }), target)).toMatchObject({
      status: 'critical',
      output: 'query returned 2, expected 3',
    });
    expect((await runProbe(my({ query: 'select nonsense from nowhere' }), target)).status).toBe('critical');
    const port = await freePort();
    const down = await runProbe(my({ target: `mariadb://root@{address}:${port}/mysql` }), target);
    expect(down.status).toBe('critical');
  });

  it('database: a server that accepts but never speaks → critical within the timeout', async () => {
    const silent = net.createServer((s) => s.on('error', () => undefined).resume());
    const port = await listen(silent);
    try {
      const r = await runProbe(
        dbCheck({ target: `postgres://postgres@{address}:${port}/postgres`, timeoutMs: 500 }),
        target,
      );
      expect(r.status).toBe('critical');
      expect(r.durationMs).toBeLessThan(5000);
    } finally {
      await close(silent);
    }
  });

  it('ping: a loopback address answers', async () => {
    const r = await runProbe(
      { ...base, timeoutMs: 1000, name: 'ping', kind: 'ping' },
      { address: '127.0.0.1' },
    );
    expect(r.status).toBe('ok');
    expect(r.output).toMatch(/^rtt /);
  });
});
