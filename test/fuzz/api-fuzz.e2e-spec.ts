/**
 * The schema-driven fuzz run against a real orchestrator process (its own schema and Redis prefix):
 * a few thousand broken requests from a fixed seed in `npm test`; `npm run fuzz` runs a long one
 * with a random seed (FUZZ_SEED, FUZZ_RUNS override both). The seed is printed either way.
 */
import { Client } from 'pg';
import { FuzzFinding, OpenApiDoc, runFuzz } from './api-fuzzer';
import {
  http,
  spawnOrchestrator,
  testEnv,
  TEST_DATABASE_URL,
  ChildOrchestrator,
} from '../support/orchestrator';

const SEED = process.env.FUZZ_SEED ? Number(process.env.FUZZ_SEED) : 20261203;
const RUNS = process.env.FUZZ_RUNS ? Number(process.env.FUZZ_RUNS) : 2500;
const PORT = 18190;

jest.setTimeout(Math.max(300_000, RUNS * 100));

describe(`API fuzz (seed ${SEED}, ${RUNS} requests)`, () => {
  const env = testEnv('fuzzapi', { LOG_LEVEL: 'warn', DETECTOR_TICK_MS: '1000' });
  let o: ChildOrchestrator;
  let db: Client;
  const ids: string[] = [];
  const tokens = { admin: env.adminToken, viewer: '', agent: '' };

  beforeAll(async () => {
    o = await spawnOrchestrator(env.env, PORT);
    db = new Client({ connectionString: TEST_DATABASE_URL });
    await db.connect();
    const api = (method: string, path: string, body?: unknown) =>
      http(o.url, method, path, { token: env.adminToken, body });
    for (const [name, address] of [
      ['fuzz-a', '127.0.0.191'],
      ['fuzz-b', '127.0.0.192'],
    ]) {
      const r = await api('POST', '/api/v1/nodes', { name, address, agentUrl: `http://${address}:17190` });
      expect(r.status).toBe(201);
      ids.push(r.body.node.id);
      tokens.agent = r.body.agentToken;
    }
    const s = await api('POST', '/api/v1/scenarios', {
      name: 'fuzzed',
      productionNodeId: ids[0],
      replicaNodeIds: [ids[1]],
      dnsRecords: [{ zone: 'fuzz.test', name: 'app.fuzz.test', type: 'A', ttl: 5 }],
    });
    expect(s.status).toBe(201);
    ids.push(s.body.id);
    const g = await api('POST', '/api/v1/groups', { name: 'fuzz-group', scenarioIds: [s.body.id] });
    expect(g.status).toBe(201);
    ids.push(g.body.id);
    const t = await api('POST', '/api/v1/tokens', { name: 'fuzz-viewer', role: 'viewer' });
    expect(t.status).toBe(201);
    tokens.viewer = t.body.token;
    ids.push(t.body.id);
  });

  afterAll(async () => {
    await o?.stop('SIGKILL');
    await db?.end();
    await env.cleanup();
  });

  it('no 5xx, no 2xx without a valid token, the process stays up, refused requests change nothing', async () => {
    const doc = (await http<OpenApiDoc>(o.url, 'GET', '/api/openapi.json')).body;
    const started = Date.now();
    const result = await runFuzz({
      doc,
      ctx: { baseUrl: o.url, tokens, ids },
      seed: SEED,
      count: RUNS,
      db,
      schema: env.schema,
      alive: async () =>
        o.child.exitCode === null && (await http(o.url, 'GET', '/health/live')).status === 200,
    });
    const byKind: Record<string, FuzzFinding[]> = {};
    for (const f of result.findings) (byKind[f.kind] ??= []).push(f);
    console.log(
      `API fuzz: seed ${SEED}, ${result.sent} requests in ${Math.round((Date.now() - started) / 1000)} s, ` +
        `statuses ${JSON.stringify(result.statuses)}, findings ${JSON.stringify(
          Object.fromEntries(Object.entries(byKind).map(([k, v]) => [k, v.length])),
        )}` +
        Object.entries(byKind)
          .map(
            ([k, v]) =>
              `\n${k}:\n  ${v
                .slice(0, 5)
                .map((f) => `${f.status ?? ''} ${f.request} → ${f.detail ?? ''}`)
                .join('\n  ')}`,
          )
          .join(''),
    );
    expect(result.sent).toBeGreaterThan(RUNS * 0.9);
    expect(result.findings).toEqual([]);
  });
});
