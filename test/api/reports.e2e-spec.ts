import { request } from 'node:http';
import { Client } from 'pg';
import { Cluster } from '../support/cluster';
import { TEST_DATABASE_URL, waitFor } from '../support/orchestrator';

/** RFC 4180 rows (quoted cells may hold commas, quotes and line breaks). */
function parseCsv(text: string): string[][] {
  const rows: string[][] = [];
  let row: string[] = [];
  let cell = '';
  let quoted = false;
  for (let i = 0; i < text.length; i++) {
    const ch = text[i];
    if (quoted) {
      if (ch === '"' && text[i + 1] === '"') {
        cell += '"';
        i++;
      } else if (ch === '"') quoted = false;
      else cell += ch;
    } else if (ch === '"') quoted = true;
    else if (ch === ',') {
      row.push(cell);
      cell = '';
    } else if (ch === '\r' && text[i + 1] === '\n') {
      row.push(cell);
      rows.push(row);
      row = [];
      cell = '';
      i++;
    } else cell += ch;
  }
  if (cell !== '' || row.length) rows.push([...row, cell]);
  return rows;
}

/** Reports: CSV exports of the audit log and the events (streamed), and availability after a real failover. */
describe('reports', () => {
  const c = new Cluster({ label: 'reports', addressPrefix: '127.0.0.25', agentPort: 17250, dnsPort: 15250 });
  let db: Client;
  let failoverId: string;
  const get = async (path: string, token = c.token) => {
    const res = await fetch(`${c.o.url}${path}`, { headers: { authorization: `Bearer ${token}` } });
    return { status: res.status, type: res.headers.get('content-type') ?? '', text: await res.text(), res };
  };

  beforeAll(async () => {
    await c.start();
    db = new Client({ connectionString: TEST_DATABASE_URL });
    await db.connect();
    // A real automatic failover: production's agent killed, DNS moves to the replica.
    await c.production.agent!.kill();
    await c.waitDns(c.replica.address, 30000);
    const ops = await c.operations();
    failoverId = ops.find((o) => o.type === 'failover').id;
    await c.waitOperation(failoverId);
  }, 120000);
  afterAll(async () => {
    await db?.end().catch(() => undefined);
    await c.close();
  });

  it('availability: the failover, its failure → DNS time and the downtime it cost', async () => {
    const since = new Date(Date.now() - 3600_000).toISOString();
    const r = await c.api('GET', `/api/v1/reports/availability?since=${since}&scenarioId=${c.scenarioId}`);
    expect(r.status).toBe(200);
    expect(r.body.scenarios).toHaveLength(1);
    const a = r.body.scenarios[0];
    expect(a).toMatchObject({
      scenarioId: c.scenarioId,
      failovers: 1,
      automaticFailovers: 1,
      failedOperations: 0,
    });
    expect(a.failureToDnsMs.count).toBe(1);
    // From the failed verdict to DNS updated: more than nothing, less than the 30 s we waited.
    expect(a.failureToDnsMs.mean).toBeGreaterThan(0);
    expect(a.failureToDnsMs.max).toBeLessThan(30000);
    // Downtime is that same stretch (the replica has been healthy since).
    expect(a.downtimeMinutes * 60_000).toBeGreaterThanOrEqual(a.failureToDnsMs.max - 1000);
    expect(a.downtimeMinutes * 60_000).toBeLessThan(30000);
    // The period starts when the scenario was created (minutes ago, not the hour asked for).
    expect(a.periodMinutes).toBeLessThan(10);
    expect(a.availabilityPercent).toBeLessThan(100);
    // (both minutes are rounded, and the period is short: a loose comparison)
    expect(Math.abs(a.availabilityPercent - 100 * (1 - a.downtimeMinutes / a.periodMinutes))).toBeLessThan(5);

    const csv = await get(`/api/v1/reports/availability?since=${since}&format=csv`);
    expect(csv.status).toBe(200);
    expect(csv.type).toMatch(/^text\/csv/);
    const rows = parseCsv(csv.text);
    expect(rows[0]).toEqual(
      expect.arrayContaining(['scenarioId', 'downtimeMinutes', 'failureToDnsMeanMs', 'arPassRate']),
    );
    const line = Object.fromEntries(rows[0].map((h, i) => [h, rows[1][i]]));
    expect(line).toMatchObject({
      scenarioId: c.scenarioId,
      failovers: '1',
      failureToDnsMeanMs: String(a.failureToDnsMs.mean),
    });

    // Before the failover: nothing happened in that period.
    const early = await c.api(
      'GET',
      `/api/v1/reports/availability?since=${new Date(Date.now() - 7200_000).toISOString()}&until=${since}`,
    );
    expect(early.body.scenarios).toEqual([]); // the scenario did not exist yet
  });

  it('events.csv: every event of the failover, filtered by kind, one row each', async () => {
    const all = await get(`/api/v1/reports/events.csv?scenarioId=${c.scenarioId}`, c.token);
    expect(all.status).toBe(200);
    expect(all.res.headers.get('content-disposition')).toMatch(/attachment; filename="events-.*\.csv"/);
    const rows = parseCsv(all.text);
    expect(rows[0]).toEqual(['id', 'at', 'kind', 'severity', 'scenarioId', 'nodeId', 'message', 'details']);
    const kinds = rows.slice(1).map((r) => r[2]);
    expect(kinds).toEqual(expect.arrayContaining(['failover-requested', 'operation-succeeded']));
    const done = rows.find(
      (r) => r[2] === 'operation-succeeded' && JSON.parse(r[7]).operationId === failoverId,
    );
    expect(done).toBeDefined();
    const only = parseCsv((await get(`/api/v1/reports/events.csv?kinds=operation-succeeded`)).text).slice(1);
    expect(only.length).toBeGreaterThan(0);
    expect(only.every((r) => r[2] === 'operation-succeeded')).toBe(true);
    // The same count as the events API says.
    const api = await c.api('GET', `/api/v1/events?scenarioId=${c.scenarioId}&limit=1`);
    expect(rows.length - 1).toBe(api.body.total);
  });

  it('audit.csv streams many pages, oldest first, filtered, defused for spreadsheets; operators only', async () => {
    const schema = c.o.schema;
    await db.query(
      `INSERT INTO "${schema}".audit_log (actor, action, "targetType", "targetId", reason, details)
       SELECT 'bulk-test', 'test.bulk', 'scenario', NULL, CASE WHEN g % 1000 = 0 THEN '=cmd|calc' ELSE 'row ' || g END,
              jsonb_build_object('g', g, 'note', 'a, "quoted" note')
         FROM generate_series(1, 4500) g`,
    );
    const r = await get('/api/v1/reports/audit.csv?actor=bulk-test');
    expect(r.status).toBe(200);
    const rows = parseCsv(r.text);
    expect(rows[0]).toEqual([
      'id',
      'at',
      'actor',
      'action',
      'targetType',
      'targetId',
      'reason',
      'requestId',
      'details',
    ]);
    expect(rows).toHaveLength(4501);
    const ids = rows.slice(1).map((x) => Number(x[0]));
    expect(ids).toEqual([...ids].sort((a, b) => a - b));
    expect(new Set(ids).size).toBe(4500);
    expect(rows.slice(1).every((x) => x[2] === 'bulk-test')).toBe(true);
    expect(rows[1000][6]).toBe("'=cmd|calc"); // a formula is text in a spreadsheet
    expect(JSON.parse(rows[1][8])).toEqual({ g: 1, note: 'a, "quoted" note' });
    // Other filters: nothing of that action from another actor, and a period with none of them.
    expect(parseCsv((await get('/api/v1/reports/audit.csv?actor=bulk-test&action=nope')).text)).toHaveLength(
      1,
    );
    expect(
      parseCsv((await get(`/api/v1/reports/audit.csv?actor=bulk-test&until=2020-01-01T00:00:00Z`)).text),
    ).toHaveLength(1);

    const viewer = (await c.api('POST', '/api/v1/tokens', { name: 'reports-viewer', role: 'viewer' })).body
      .token;
    expect((await get('/api/v1/reports/audit.csv', viewer)).status).toBe(403);
    expect((await get('/api/v1/reports/events.csv?kinds=alert', viewer)).status).toBe(200);
    expect((await get('/api/v1/reports/audit.csv', 'hat_wrong')).status).toBe(401);
  });

  it('bad queries are a 400 naming the field, before anything is streamed', async () => {
    const bad: [string, RegExp][] = [
      ['/api/v1/reports/audit.csv?since=yesterday', /since/],
      ['/api/v1/reports/audit.csv?since=2026-12-02T00:00:00Z&until=2026-12-01T00:00:00Z', /since/],
      ['/api/v1/reports/events.csv?kinds=nope', /kinds/],
      ['/api/v1/reports/events.csv?scenarioId=42', /scenarioId/],
      ['/api/v1/reports/availability?format=xml', /format/],
      ['/api/v1/reports/availability?since=2020-01-01T00:00:00Z', /400 days/],
      ['/api/v1/reports/availability?scenarioId=00000000-0000-4000-8000-000000000000', /scenario/],
      ['/api/v1/reports/audit.csv?targetType=Not+Valid', /targetType/],
      ['/api/v1/reports/audit.csv?extra=1', /extra/],
    ];
    for (const [path, message] of bad) {
      const r = await get(path);
      expect({ path, status: r.status }).toEqual({ path, status: 400 });
      expect(r.type).toMatch(/json/);
      expect(r.text).toMatch(message);
    }
  });

  it('keeps answering while a large export is read slowly (the export streams)', async () => {
    // A reader that takes the first chunk and then stops reading, then goes away.
    const url = new URL(`${c.o.url}/api/v1/reports/audit.csv`);
    const req = request(url, { headers: { authorization: `Bearer ${c.token}` } });
    const first = await new Promise<string>((resolve, reject) => {
      req.once('response', (res) => {
        res.once('data', (d: Buffer) => {
          res.pause();
          resolve(d.toString());
        });
      });
      req.once('error', reject);
      req.end();
    });
    expect(first.startsWith('id,at,actor')).toBe(true);
    const ping = await waitFor(
      'API answers meanwhile',
      async () => (await c.api('GET', '/api/v1/scenarios')).status === 200,
      5000,
    );
    expect(ping).toBe(true);
    req.destroy();
  });

  it('ar.csv pages through thousands of tests, each once, oldest first (many within one millisecond)', async () => {
    const schema = c.o.schema;
    // 2,500 finished AR tests a microsecond apart: every page boundary falls inside a millisecond.
    await db.query(
      `INSERT INTO "${schema}".operations ("scenarioId", type, state, trigger, "requestedBy", reason, params, "createdAt", "startedAt", "finishedAt")
       SELECT $1, 'ar-test', 'succeeded', 'auto', 'scheduler', 'bulk ' || g,
              jsonb_build_object('arResult', CASE WHEN g % 10 = 0 THEN 'failed' ELSE 'passed' END),
              t, t, t + interval '1500 milliseconds'
         FROM generate_series(1, 2500) g, LATERAL (SELECT now() - interval '1 hour' + g * interval '1 microsecond' AS t) x`,
      [c.scenarioId],
    );
    const r = await get(`/api/v1/reports/ar.csv?scenarioId=${c.scenarioId}`);
    expect(r.status).toBe(200);
    const rows = parseCsv(r.text);
    expect(rows[0].slice(0, 4)).toEqual(['operationId', 'scenarioId', 'scenario', 'createdAt']);
    const bulk = rows.slice(1).filter((x) => x[14]?.startsWith('bulk '));
    expect(bulk).toHaveLength(2500);
    expect(new Set(bulk.map((x) => x[0])).size).toBe(2500);
    expect(bulk.map((x) => Number(x[14].slice(5)))).toEqual(Array.from({ length: 2500 }, (_, i) => i + 1));
    expect(bulk[9]).toEqual(expect.arrayContaining(['failed', '1500']));
    expect(bulk[0][12]).toBe('passed');
  });
});
