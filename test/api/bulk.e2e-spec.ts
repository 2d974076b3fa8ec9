/**
 * Bulk scenario API: POST /scenarios/bulk (all or none), POST /scenarios/bulk/start and
 * /bulk/stop (per-scenario results). Happy paths with the rows they write, and every bad input:
 * a clear 4xx naming the scenario and field, nothing written.
 */
import { http, InProcessOrchestrator, waitFor } from '../support/orchestrator';
import { count, createNode, createToken, rows, snapshot, startApi, unknownId } from './api-helpers';

describe('bulk scenarios API', () => {
  let o: InProcessOrchestrator;
  let prod: string;
  let replica: string;
  let viewer: string;
  beforeAll(async () => {
    o = await startApi('bulk');
    prod = (await createNode(o, 'bulk-prod')).node.id;
    replica = (await createNode(o, 'bulk-rep')).node.id;
    viewer = (await createToken(o, 'bulk-viewer', 'viewer')).token;
  });
  afterAll(async () => {
    await o?.close();
  });

  const scenario = (name: string, extra: Record<string, unknown> = {}) => ({
    name,
    productionNodeId: prod,
    replicaNodeIds: [replica],
    dnsRecords: [{ zone: 'bulk.test', name: `${name}.bulk.test`, type: 'A', ttl: 5 }],
    ...extra,
  });
  const post = (path: string, body: unknown, token = o.adminToken) =>
    http(o.url, 'POST', path, { token, body });

  it('creates many scenarios in one transaction, in request order, each stopped and audited', async () => {
    const r = await post('/api/v1/scenarios/bulk', {
      scenarios: [scenario('bulk-a'), scenario('bulk-b', { failoverMode: 'auto' }), scenario('bulk-c')],
    });
    expect(r.status).toBe(201);
    expect(r.body.items.map((s: any) => [s.name, s.state, s.failoverMode, s.epoch])).toEqual([
      ['bulk-a', 'stopped', 'manual', 1],
      ['bulk-b', 'stopped', 'auto', 1],
      ['bulk-c', 'stopped', 'manual', 1],
    ]);
    expect(r.body.items[0]).toMatchObject({ productionNodeId: prod, replicaNodeIds: [replica] });
    const ids = r.body.items.map((s: any) => s.id);
    expect(await count(o, 'scenario_replicas', 'WHERE "scenarioId" = ANY($1)', [ids])).toBe(3);
    const audit = await rows(
      o,
      `SELECT "targetId" FROM audit_log WHERE action = 'scenario.create' AND "targetId" = ANY($1)`,
      [ids],
    );
    expect(audit).toHaveLength(3);
  });

  describe('bad bulk creates: 4xx naming the scenario and field, nothing written', () => {
    const cases: { title: string; body: () => unknown; status: number; match: RegExp; field?: string }[] = [
      { title: 'no list', body: () => ({}), status: 400, match: /scenarios/ },
      { title: 'empty list', body: () => ({ scenarios: [] }), status: 400, match: /scenarios/ },
      {
        title: 'more than 1000',
        body: () => ({ scenarios: Array.from({ length: 1001 }, () => ({})) }),
        status: 400,
        match: /scenarios/,
      },
      {
        title: 'one bad field among good ones',
        body: () => ({ scenarios: [scenario('bulk-ok1'), scenario('Bad Name')] }),
        status: 400,
        match: /name/,
        field: 'scenarios[1].name',
      },
      {
        title: 'DNS name outside its zone',
        body: () => ({
          scenarios: [
            scenario('bulk-ok2'),
            scenario('bulk-zone', {
              dnsRecords: [{ zone: 'bulk.test', name: 'x.other.test', type: 'A', ttl: 5 }],
            }),
          ],
        }),
        status: 400,
        match: /not inside zone/,
        field: 'scenarios[1].dnsRecords[0].name',
      },
      {
        title: 'the same name twice in the request',
        body: () => ({ scenarios: [scenario('bulk-twice'), { ...scenario('bulk-twice'), dnsRecords: [] }] }),
        status: 409,
        match: /appears twice/,
        field: 'scenarios[1].name',
      },
      {
        title: 'the same DNS name in two scenarios of the request',
        body: () => ({
          scenarios: [
            scenario('bulk-d1'),
            scenario('bulk-d2', {
              dnsRecords: [{ zone: 'bulk.test', name: 'bulk-d1.bulk.test', type: 'A', ttl: 5 }],
            }),
          ],
        }),
        status: 409,
        match: /appears in two scenarios/,
        field: 'scenarios[1].dnsRecords',
      },
      {
        title: 'a name that already exists',
        body: () => ({ scenarios: [scenario('bulk-new1'), { ...scenario('bulk-a'), dnsRecords: [] }] }),
        status: 409,
        match: /already exists/,
        field: 'scenarios[1].name',
      },
      {
        title: 'a DNS name another scenario owns',
        body: () => ({
          scenarios: [
            scenario('bulk-new2', {
              dnsRecords: [{ zone: 'bulk.test', name: 'bulk-b.bulk.test', type: 'A', ttl: 5 }],
            }),
          ],
        }),
        status: 409,
        match: /already belongs to scenario bulk-b/,
        field: 'scenarios[0].dnsRecords',
      },
      {
        title: 'an unknown node',
        body: () => ({ scenarios: [scenario('bulk-new3', { replicaNodeIds: [unknownId()] })] }),
        status: 404,
        match: /node .* not found/,
      },
      {
        title: 'a replica equal to production',
        body: () => ({ scenarios: [scenario('bulk-new4', { replicaNodeIds: [prod] })] }),
        status: 409,
        match: /cannot be the production node/,
        field: 'scenarios[0].replicaNodeIds',
      },
    ];
    for (const tc of cases) {
      it(tc.title, async () => {
        const before = await snapshot(o);
        const r = await post('/api/v1/scenarios/bulk', tc.body());
        expect(r.status).toBe(tc.status);
        expect(JSON.stringify(r.body)).toMatch(tc.match);
        if (tc.field) expect(JSON.stringify(r.body)).toContain(tc.field);
        expect(await snapshot(o)).toEqual(before);
      });
    }

    it('a viewer may not bulk create; a body over the limit is a 413', async () => {
      const before = await snapshot(o);
      expect((await post('/api/v1/scenarios/bulk', { scenarios: [scenario('bulk-v')] }, viewer)).status).toBe(
        403,
      );
      const big = await post('/api/v1/scenarios/bulk', {
        scenarios: Array.from({ length: 1000 }, (_, i) => scenario(`bulk-big-${i}-${'x'.repeat(40)}`)),
      });
      expect(big.status).toBe(413);
      expect(await snapshot(o)).toEqual(before);
    });
  });

  it('bulk start: one 202 with a result per scenario, refusals beside acceptances; bulk stop the same', async () => {
    const all = (await http(o.url, 'GET', '/api/v1/scenarios?limit=100', { token: o.adminToken })).body.items;
    const [a, b] = ['bulk-a', 'bulk-b'].map((n) => all.find((s: any) => s.name === n).id);
    const missing = unknownId();
    // force: no agents run in this test, start skips the reachability check.
    const started = await post('/api/v1/scenarios/bulk/start', {
      scenarioIds: [a, missing, b],
      reason: 'bulk test',
      force: true,
    });
    expect(started.status).toBe(202);
    expect(started.body).toMatchObject({ accepted: 2, refused: 1 });
    expect(started.body.items[0]).toEqual({ scenarioId: a, operationId: expect.any(String) });
    expect(started.body.items[1]).toEqual({
      scenarioId: missing,
      error: { status: 404, code: 'not_found', message: expect.stringMatching(/not found/) },
    });
    const ops = await rows<{ id: string; batchId: string | null; type: string }>(
      o,
      'SELECT id, "batchId", type FROM operations WHERE id = ANY($1)',
      [[started.body.items[0].operationId, started.body.items[2].operationId]],
    );
    expect(ops.map((x) => x.type)).toEqual(['start', 'start']);
    expect(new Set(ops.map((x) => x.batchId)).size).toBe(1);
    expect(ops[0].batchId).toEqual(expect.any(String));

    // Again at once: both are busy (starting) or running, so both are refused with 409, not 500.
    const again = await post('/api/v1/scenarios/bulk/start', { scenarioIds: [a, b], reason: 'twice' });
    expect(again.status).toBe(202);
    expect(again.body.accepted).toBe(0);
    expect(again.body.items.map((x: any) => x.error.status)).toEqual([409, 409]);
  });

  describe('bad bulk actions', () => {
    beforeAll(async () => {
      // The starts above finish first: their state changes are not what these cases look at.
      await waitFor(
        'no operation running',
        async () => (await count(o, 'operations', `WHERE state IN ('pending','running')`)) === 0,
        30000,
      );
    });
    const cases: { title: string; body: () => unknown; status: number; token?: () => string }[] = [
      { title: 'no reason', body: () => ({ scenarioIds: [unknownId()] }), status: 400 },
      { title: 'no ids', body: () => ({ scenarioIds: [], reason: 'r' }), status: 400 },
      { title: 'not uuids', body: () => ({ scenarioIds: ['abc'], reason: 'r' }), status: 400 },
      { title: 'duplicates', body: () => ({ scenarioIds: [prod, prod], reason: 'r' }), status: 400 },
      {
        title: 'more than 1000',
        body: () => ({ scenarioIds: Array.from({ length: 1001 }, unknownId), reason: 'r' }),
        status: 400,
      },
      {
        title: 'a viewer',
        body: () => ({ scenarioIds: [unknownId()], reason: 'r' }),
        status: 403,
        token: () => viewer,
      },
    ];
    for (const path of ['/api/v1/scenarios/bulk/start', '/api/v1/scenarios/bulk/stop']) {
      for (const tc of cases) {
        it(`${path}: ${tc.title}`, async () => {
          const before = await snapshot(o);
          const opsBefore = await count(o, 'operations');
          const r = await post(path, tc.body(), tc.token?.());
          expect(r.status).toBe(tc.status);
          expect(await snapshot(o)).toEqual(before);
          expect(await count(o, 'operations')).toBe(opsBefore);
        });
      }
    }
  });
});

describe('bulk nodes API', () => {
  let o: InProcessOrchestrator;
  beforeAll(async () => {
    o = await startApi('bulknodes');
  });
  afterAll(async () => {
    await o?.close();
  });
  const node = (name: string, extra: Record<string, unknown> = {}) => ({
    name,
    address: '10.9.0.1',
    agentUrl: 'http://10.9.0.1:7400',
    ...extra,
  });
  const post = (body: unknown, token = o.adminToken) =>
    http(o.url, 'POST', '/api/v1/nodes/bulk', { token, body });

  it('registers many nodes at once, in request order, each with its own working tokens, audited', async () => {
    const r = await post({ nodes: [node('bn-a'), node('bn-b', { labels: { site: 'x' } }), node('bn-c')] });
    expect(r.status).toBe(201);
    expect(r.body.items.map((i: any) => i.node.name)).toEqual(['bn-a', 'bn-b', 'bn-c']);
    expect(r.body.items[1].node.labels).toEqual({ site: 'x' });
    const tokens = r.body.items.map((i: any) => i.agentToken);
    expect(new Set(tokens).size).toBe(3);
    // Each agent token authenticates its own node's heartbeats (and only those).
    const hb = (nodeId: string, token: string) =>
      http(o.url, 'POST', '/api/v1/heartbeats', {
        token,
        body: {
          nodeId,
          seq: 1,
          bootId: 'b',
          agentTime: Date.now(),
          scenarios: [],
          checks: [],
          peerViews: [],
        },
      });
    expect((await hb(r.body.items[0].node.id, tokens[0])).status).toBe(200);
    expect((await hb(r.body.items[1].node.id, tokens[0])).status).toBe(403);
    const ids = r.body.items.map((i: any) => i.node.id);
    expect(
      await rows(
        o,
        `SELECT "targetId" FROM audit_log WHERE action = 'node.create' AND "targetId" = ANY($1)`,
        [ids],
      ),
    ).toHaveLength(3);
    // The topology knows them at once (one reload for the whole request).
    expect((await http(o.url, 'GET', '/api/v1/nodes?limit=100', { token: o.adminToken })).body.total).toBe(3);
  });

  const cases: { title: string; body: () => unknown; status: number; match: RegExp; field?: string }[] = [
    { title: 'no list', body: () => ({}), status: 400, match: /nodes/ },
    { title: 'empty list', body: () => ({ nodes: [] }), status: 400, match: /nodes/ },
    {
      title: 'more than 1000',
      body: () => ({ nodes: Array.from({ length: 1001 }, (_, i) => node(`bn-many-${i}`)) }),
      status: 400,
      match: /nodes/,
    },
    {
      title: 'one bad field among good ones',
      body: () => ({ nodes: [node('bn-ok1'), node('bn-bad', { agentUrl: 'not a url' })] }),
      status: 400,
      match: /agentUrl/,
      field: 'nodes[1].agentUrl',
    },
    {
      title: 'the same name twice in the request',
      body: () => ({ nodes: [node('bn-twice'), node('bn-twice')] }),
      status: 409,
      match: /appears twice/,
      field: 'nodes[1].name',
    },
    {
      title: 'a name that already exists',
      body: () => ({ nodes: [node('bn-new1'), node('bn-b')] }),
      status: 409,
      match: /already exists/,
      field: 'nodes[1].name',
    },
  ];
  for (const tc of cases) {
    it(`bad bulk register: ${tc.title} → ${tc.status}, nothing written`, async () => {
      const before = await snapshot(o);
      const r = await post(tc.body());
      expect(r.status).toBe(tc.status);
      expect(JSON.stringify(r.body)).toMatch(tc.match);
      if (tc.field) expect(JSON.stringify(r.body)).toContain(tc.field);
      expect(await snapshot(o)).toEqual(before);
    });
  }

  it('a viewer may not bulk register', async () => {
    const viewer = (await createToken(o, 'bn-viewer', 'viewer')).token;
    const before = await snapshot(o);
    expect((await post({ nodes: [node('bn-v')] }, viewer)).status).toBe(403);
    expect(await snapshot(o)).toEqual(before);
  });
});
