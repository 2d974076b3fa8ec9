/**
 * Every class of bad input gets a clear 4xx naming what is wrong, and leaves the database exactly
 * as it was (row counts and contents of every API table compared before and after).
 */
import { http, InProcessOrchestrator } from '../support/orchestrator';
import { createNode, createScenario, createToken, snapshot, startApi, unknownId } from './api-helpers';

const BODY_LIMIT = 4096;

interface Req {
  method: string;
  path: string;
  body?: unknown;
  rawBody?: string;
  contentType?: string;
}
interface Case {
  title: string;
  req: () => Req;
  status: number;
  /** the field the error names (in details.fields[].field or details.field) */
  field?: string;
  error?: string;
  message?: RegExp;
}

describe('bad input', () => {
  let o: InProcessOrchestrator;
  const f = { prod: '', rep: '', other: '', scenario: '', group: '', token: '' };

  beforeAll(async () => {
    o = await startApi('badinput', { BODY_LIMIT_BYTES: String(BODY_LIMIT) });
    f.prod = (await createNode(o, 'bad-prod')).node.id;
    f.rep = (await createNode(o, 'bad-rep')).node.id;
    f.other = (await createNode(o, 'bad-other')).node.id;
    f.scenario = (await createScenario(o, 'bad-app', f.prod, [f.rep])).id;
    const g = await http(o.url, 'POST', '/api/v1/groups', {
      token: o.adminToken,
      body: { name: 'bad-group', scenarioIds: [f.scenario] },
    });
    f.group = g.body.id;
    await http(o.url, 'POST', '/api/v1/groups', { token: o.adminToken, body: { name: 'bad-group-2' } });
    f.token = (await createToken(o, 'bad-viewer', 'viewer')).id;
  });
  afterAll(async () => {
    await o?.close();
  });

  const node = (extra: Record<string, unknown> = {}) => ({
    name: 'fresh-node',
    address: '127.0.0.99',
    agentUrl: 'http://127.0.0.99:7400',
    ...extra,
  });
  const scenario = (extra: Record<string, unknown> = {}) => ({
    name: 'fresh-scenario',
    productionNodeId: f.prod,
    replicaNodeIds: [f.rep],
    dnsRecords: [{ zone: 'example.test', name: 'fresh.example.test', type: 'A', ttl: 5 }],
    ...extra,
  });
  const json = (method: string, path: string, rawBody: string): Req => ({
    method,
    path,
    rawBody,
    contentType: 'application/json',
  });

  const cases: Case[] = [
    // malformed JSON
    {
      title: 'malformed JSON (POST node)',
      req: () => json('POST', '/api/v1/nodes', '{"name": "x",'),
      status: 400,
      error: 'bad_request',
      message: /malformed request body/,
    },
    {
      title: 'malformed JSON (POST group)',
      req: () => json('POST', '/api/v1/groups', "{name: 'x'}"),
      status: 400,
      message: /malformed/,
    },
    {
      title: 'malformed JSON (PATCH node)',
      req: () => json('PATCH', `/api/v1/nodes/${f.prod}`, '{"address": }'),
      status: 400,
      message: /malformed/,
    },
    {
      title: 'empty JSON body (POST token)',
      req: () => json('POST', '/api/v1/tokens', ''),
      status: 400,
      error: 'bad_request',
    },
    {
      title: 'prototype pollution (POST group)',
      req: () => json('POST', '/api/v1/groups', '{"name":"pp","__proto__":{"admin":true}}'),
      status: 400,
      message: /malformed/,
    },
    {
      title: 'JSON array instead of an object (POST group)',
      req: () => json('POST', '/api/v1/groups', '[]'),
      status: 400,
      field: 'name',
    },
    {
      title: 'JSON null (POST token)',
      req: () => json('POST', '/api/v1/tokens', 'null'),
      status: 400,
      field: 'role',
    },

    // a list whose element is a list (passes a nested-validation rule unless elements must be objects)
    {
      title: 'nested list instead of node objects (POST nodes/bulk)',
      req: () => ({ method: 'POST', path: '/api/v1/nodes/bulk', body: { nodes: [[]] } }),
      status: 400,
      field: 'nodes',
    },
    {
      title: 'nested list instead of scenario objects (POST scenarios/bulk)',
      req: () => ({ method: 'POST', path: '/api/v1/scenarios/bulk', body: { scenarios: [[scenario()]] } }),
      status: 400,
      field: 'scenarios',
    },
    {
      title: 'nested list instead of DNS records (POST scenario)',
      req: () => ({ method: 'POST', path: '/api/v1/scenarios', body: scenario({ dnsRecords: [[]] }) }),
      status: 400,
      field: 'dnsRecords',
    },
    {
      title: 'nested list instead of checks (POST scenario)',
      req: () => ({ method: 'POST', path: '/api/v1/scenarios', body: scenario({ checks: [[]] }) }),
      status: 400,
      field: 'checks',
    },

    // wrong types
    {
      title: 'wrong type: node name number',
      req: () => ({ method: 'POST', path: '/api/v1/nodes', body: node({ name: 5 }) }),
      status: 400,
      field: 'name',
    },
    {
      title: 'wrong type: node labels string',
      req: () => ({ method: 'POST', path: '/api/v1/nodes', body: node({ labels: 'site=paris' }) }),
      status: 400,
      field: 'labels',
    },
    {
      title: 'wrong type: node label value number',
      req: () => ({ method: 'POST', path: '/api/v1/nodes', body: node({ labels: { rack: 12 } }) }),
      status: 400,
      field: 'labels',
    },
    {
      title: 'wrong type: node agentUrl not a URL (PATCH)',
      req: () => ({ method: 'PATCH', path: `/api/v1/nodes/${f.prod}`, body: { agentUrl: 'ftp://x' } }),
      status: 400,
      field: 'agentUrl',
    },
    {
      title: 'wrong type: scenario replicaNodeIds string',
      req: () => ({ method: 'POST', path: '/api/v1/scenarios', body: scenario({ replicaNodeIds: 'abc' }) }),
      status: 400,
      field: 'replicaNodeIds',
    },
    {
      title: 'wrong type: scenario ttl string',
      req: () => ({
        method: 'POST',
        path: '/api/v1/scenarios',
        body: scenario({
          dnsRecords: [{ zone: 'example.test', name: 'x.example.test', type: 'A', ttl: 'five' }],
        }),
      }),
      status: 400,
      field: 'dnsRecords[0].ttl',
    },
    {
      title: 'wrong type: scenario failoverMode unknown',
      req: () => ({
        method: 'PATCH',
        path: `/api/v1/scenarios/${f.scenario}`,
        body: { failoverMode: 'sometimes' },
      }),
      status: 400,
      field: 'failoverMode',
    },
    {
      title: 'wrong type: scenario check threshold negative',
      req: () => ({
        method: 'PATCH',
        path: `/api/v1/scenarios/${f.scenario}`,
        body: { checks: [{ name: 'hb', kind: 'heartbeat', failureThreshold: -1 }] },
      }),
      status: 400,
      field: 'checks[0].failureThreshold',
    },
    {
      title: 'wrong type: group switchAllIfAnyFails string',
      req: () => ({
        method: 'POST',
        path: '/api/v1/groups',
        body: { name: 'typed', switchAllIfAnyFails: 'yes' },
      }),
      status: 400,
      field: 'switchAllIfAnyFails',
    },
    {
      title: 'wrong type: group scenarioIds not UUIDs',
      req: () => ({ method: 'POST', path: '/api/v1/groups', body: { name: 'typed', scenarioIds: ['nope'] } }),
      status: 400,
      field: 'scenarioIds',
    },
    {
      title: 'wrong type: group scenarioIds duplicated',
      req: () => ({
        method: 'PUT',
        path: `/api/v1/groups/${f.group}/members`,
        body: { scenarioIds: [f.scenario, f.scenario] },
      }),
      status: 400,
      field: 'scenarioIds',
    },
    {
      title: 'wrong type: group name number (PATCH)',
      req: () => ({ method: 'PATCH', path: `/api/v1/groups/${f.group}`, body: { name: 7 } }),
      status: 400,
      field: 'name',
    },
    {
      title: 'wrong type: group description too long',
      req: () => ({
        method: 'PATCH',
        path: `/api/v1/groups/${f.group}`,
        body: { description: 'd'.repeat(513) },
      }),
      status: 400,
      field: 'description',
    },
    {
      title: 'wrong type: members scenarioIds string',
      req: () => ({
        method: 'PUT',
        path: `/api/v1/groups/${f.group}/members`,
        body: { scenarioIds: f.scenario },
      }),
      status: 400,
      field: 'scenarioIds',
    },
    {
      title: 'wrong type: token role unknown',
      req: () => ({ method: 'POST', path: '/api/v1/tokens', body: { name: 'typed', role: 'root' } }),
      status: 400,
      field: 'role',
    },
    {
      title: 'wrong type: token name with spaces',
      req: () => ({ method: 'POST', path: '/api/v1/tokens', body: { name: 'my token', role: 'viewer' } }),
      status: 400,
      field: 'name',
    },
    {
      title: 'reserved token name',
      req: () => ({
        method: 'POST',
        path: '/api/v1/tokens',
        body: { name: 'bootstrap-admin', role: 'admin' },
      }),
      status: 400,
      field: 'name',
    },
    {
      title: 'wrong type: query limit',
      req: () => ({ method: 'GET', path: '/api/v1/groups?limit=abc' }),
      status: 400,
      field: 'limit',
    },
    {
      title: 'wrong type: query limit too large (audit)',
      req: () => ({ method: 'GET', path: '/api/v1/audit?limit=100000' }),
      status: 400,
      field: 'limit',
    },
    {
      title: 'out of range: query offset 1e300 (alerts)',
      req: () => ({ method: 'GET', path: '/api/v1/alerts?offset=1e300' }),
      status: 400,
      field: 'offset',
    },
    {
      title: 'out of range: query offset 1e300 (maintenance)',
      req: () => ({ method: 'GET', path: '/api/v1/maintenance?offset=1e300' }),
      status: 400,
      field: 'offset',
    },
    {
      title: 'wrong type: query scenarioId not a UUID',
      req: () => ({ method: 'GET', path: '/api/v1/groups?scenarioId=42' }),
      status: 400,
      field: 'scenarioId',
    },
    {
      title: 'wrong type: query includeRevoked',
      req: () => ({ method: 'GET', path: '/api/v1/tokens?includeRevoked=maybe' }),
      status: 400,
      field: 'includeRevoked',
    },

    // unknown fields
    {
      title: 'unknown field (POST node)',
      req: () => ({ method: 'POST', path: '/api/v1/nodes', body: node({ bogus: 1 }) }),
      status: 400,
      field: 'bogus',
      error: 'validation_failed',
    },
    {
      title: 'unknown nested field (POST scenario)',
      req: () => ({
        method: 'POST',
        path: '/api/v1/scenarios',
        body: scenario({
          dnsRecords: [{ zone: 'example.test', name: 'n.example.test', type: 'A', ttl: 5, extra: true }],
        }),
      }),
      status: 400,
      field: 'dnsRecords[0].extra',
    },
    {
      title: 'unknown nested field (PATCH scenario policy)',
      req: () => ({
        method: 'PATCH',
        path: `/api/v1/scenarios/${f.scenario}`,
        body: { policy: { holdDownMs: 1000, shell: 'rm -rf /' } },
      }),
      status: 400,
      field: 'policy.shell',
    },
    {
      title: 'unknown field (POST group)',
      req: () => ({ method: 'POST', path: '/api/v1/groups', body: { name: 'unk', members: [] } }),
      status: 400,
      field: 'members',
    },
    {
      title: 'unknown field (POST token)',
      req: () => ({
        method: 'POST',
        path: '/api/v1/tokens',
        body: { name: 'unk', role: 'viewer', tokenHash: 'abc' },
      }),
      status: 400,
      field: 'tokenHash',
    },
    {
      title: 'unknown field (PATCH group: members go through /members)',
      req: () => ({ method: 'PATCH', path: `/api/v1/groups/${f.group}`, body: { scenarioIds: [] } }),
      status: 400,
      field: 'scenarioIds',
    },
    {
      title: 'unknown field (PATCH scenario: name is fixed)',
      req: () => ({ method: 'PATCH', path: `/api/v1/scenarios/${f.scenario}`, body: { name: 'renamed' } }),
      status: 400,
      field: 'name',
    },
    {
      title: 'unknown query parameter',
      req: () => ({ method: 'GET', path: '/api/v1/groups?foo=1' }),
      status: 400,
      field: 'foo',
    },

    // missing required fields
    {
      title: 'missing required (POST node)',
      req: () => ({ method: 'POST', path: '/api/v1/nodes', body: { name: 'only-name' } }),
      status: 400,
      field: 'agentUrl',
    },
    {
      title: 'missing required (POST scenario)',
      req: () => ({
        method: 'POST',
        path: '/api/v1/scenarios',
        body: { name: 'half', productionNodeId: f.prod },
      }),
      status: 400,
      field: 'dnsRecords',
    },
    {
      title: 'missing required (POST group)',
      req: () => ({ method: 'POST', path: '/api/v1/groups', body: {} }),
      status: 400,
      field: 'name',
    },
    {
      title: 'missing required (POST token)',
      req: () => ({ method: 'POST', path: '/api/v1/tokens', body: { name: 'no-role' } }),
      status: 400,
      field: 'role',
    },
    {
      title: 'missing required (PUT members)',
      req: () => ({ method: 'PUT', path: `/api/v1/groups/${f.group}/members`, body: {} }),
      status: 400,
      field: 'scenarioIds',
    },
    {
      title: 'missing body (POST group without content)',
      req: () => ({ method: 'POST', path: '/api/v1/groups' }),
      status: 400,
      field: 'name',
    },

    // unknown ids
    ...(['GET', 'PATCH', 'DELETE'] as const).flatMap((method) =>
      ['nodes', 'scenarios', 'groups'].map((kind) => ({
        title: `unknown id: ${method} ${kind}`,
        req: (): Req => ({
          method,
          path: `/api/v1/${kind}/${unknownId()}`,
          body: method === 'PATCH' ? {} : undefined,
        }),
        status: 404,
        error: 'not_found',
      })),
    ),
    {
      title: 'unknown id: GET token',
      req: () => ({ method: 'GET', path: `/api/v1/tokens/${unknownId()}` }),
      status: 404,
    },
    {
      title: 'unknown id: DELETE token',
      req: () => ({ method: 'DELETE', path: `/api/v1/tokens/${unknownId()}` }),
      status: 404,
    },
    {
      title: 'unknown id: rotate node tokens',
      req: () => ({ method: 'POST', path: `/api/v1/nodes/${unknownId()}/rotate-tokens` }),
      status: 404,
    },
    {
      title: 'unknown id: scenario production node',
      req: () => ({
        method: 'POST',
        path: '/api/v1/scenarios',
        body: scenario({ productionNodeId: unknownId() }),
      }),
      status: 404,
      message: /node .* not found/,
    },
    {
      title: 'unknown id: scenario replica node',
      req: () => ({
        method: 'POST',
        path: '/api/v1/scenarios',
        body: scenario({ replicaNodeIds: [unknownId()] }),
      }),
      status: 404,
    },
    {
      title: 'unknown id: group initial member',
      req: () => ({
        method: 'POST',
        path: '/api/v1/groups',
        body: { name: 'ghosts', scenarioIds: [f.scenario, unknownId()] },
      }),
      status: 404,
      message: /scenario .* not found/,
    },
    {
      title: 'unknown id: PUT members with an unknown scenario',
      req: () => ({
        method: 'PUT',
        path: `/api/v1/groups/${f.group}/members`,
        body: { scenarioIds: [unknownId()] },
      }),
      status: 404,
      message: /scenario/,
    },
    {
      title: 'unknown id: PUT members of an unknown group',
      req: () => ({
        method: 'PUT',
        path: `/api/v1/groups/${unknownId()}/members`,
        body: { scenarioIds: [] },
      }),
      status: 404,
      message: /group/,
    },
    {
      title: 'unknown id: add an unknown scenario',
      req: () => ({ method: 'POST', path: `/api/v1/groups/${f.group}/members/${unknownId()}` }),
      status: 404,
      message: /scenario/,
    },
    {
      title: 'unknown id: add to an unknown group',
      req: () => ({ method: 'POST', path: `/api/v1/groups/${unknownId()}/members/${f.scenario}` }),
      status: 404,
      message: /group/,
    },
    {
      title: 'unknown id: remove a non-member',
      req: () => ({ method: 'DELETE', path: `/api/v1/groups/${f.group}/members/${unknownId()}` }),
      status: 404,
    },

    // invalid UUIDs in the path
    ...['nodes', 'scenarios', 'groups', 'tokens'].map((kind) => ({
      title: `invalid uuid: GET ${kind}`,
      req: (): Req => ({ method: 'GET', path: `/api/v1/${kind}/not-a-uuid` }),
      status: 400,
      field: 'id',
    })),
    {
      title: 'invalid uuid: DELETE node',
      req: () => ({ method: 'DELETE', path: '/api/v1/nodes/12345' }),
      status: 400,
      field: 'id',
    },
    {
      title: 'invalid uuid: PATCH scenario',
      req: () => ({ method: 'PATCH', path: "/api/v1/scenarios/1' OR '1'='1", body: {} }),
      status: 400,
      field: 'id',
    },
    {
      title: 'invalid uuid: member scenarioId',
      req: () => ({ method: 'DELETE', path: `/api/v1/groups/${f.group}/members/xyz` }),
      status: 400,
      field: 'scenarioId',
    },
    {
      title: 'invalid uuid: DELETE token',
      req: () => ({ method: 'DELETE', path: '/api/v1/tokens/0000' }),
      status: 400,
      field: 'id',
    },

    // conflicts
    {
      title: 'duplicate name: node',
      req: () => ({ method: 'POST', path: '/api/v1/nodes', body: node({ name: 'bad-prod' }) }),
      status: 409,
      field: 'name',
      error: 'conflict',
    },
    {
      title: 'duplicate name: node rename',
      req: () => ({ method: 'PATCH', path: `/api/v1/nodes/${f.other}`, body: { name: 'bad-rep' } }),
      status: 409,
      field: 'name',
    },
    {
      title: 'duplicate name: scenario',
      req: () => ({ method: 'POST', path: '/api/v1/scenarios', body: scenario({ name: 'bad-app' }) }),
      status: 409,
      field: 'name',
    },
    {
      title: 'duplicate name: group',
      req: () => ({ method: 'POST', path: '/api/v1/groups', body: { name: 'bad-group' } }),
      status: 409,
      field: 'name',
    },
    {
      title: 'duplicate name: group rename',
      req: () => ({ method: 'PATCH', path: `/api/v1/groups/${f.group}`, body: { name: 'bad-group-2' } }),
      status: 409,
      field: 'name',
    },
    {
      title: 'duplicate name: token',
      req: () => ({ method: 'POST', path: '/api/v1/tokens', body: { name: 'bad-viewer', role: 'admin' } }),
      status: 409,
      field: 'name',
    },
    {
      title: 'DNS name already used by another scenario',
      req: () => ({
        method: 'POST',
        path: '/api/v1/scenarios',
        body: scenario({
          dnsRecords: [{ zone: 'example.test', name: 'bad-app.example.test', type: 'A', ttl: 5 }],
        }),
      }),
      status: 409,
      field: 'dnsRecords',
    },
    {
      title: 'delete a production node a scenario uses',
      req: () => ({ method: 'DELETE', path: `/api/v1/nodes/${f.prod}` }),
      status: 409,
      message: /used by a scenario/,
    },
    {
      title: 'delete a replica node a scenario uses',
      req: () => ({ method: 'DELETE', path: `/api/v1/nodes/${f.rep}` }),
      status: 409,
    },
    {
      title: 'replica equal to production (create)',
      req: () => ({
        method: 'POST',
        path: '/api/v1/scenarios',
        body: scenario({ replicaNodeIds: [f.prod] }),
      }),
      status: 409,
      field: 'replicaNodeIds',
    },
    {
      title: 'replica equal to production (update)',
      req: () => ({
        method: 'PATCH',
        path: `/api/v1/scenarios/${f.scenario}`,
        body: { replicaNodeIds: [f.rep, f.prod] },
      }),
      status: 409,
      field: 'replicaNodeIds',
    },

    // DNS names
    {
      title: 'DNS name outside its zone',
      req: () => ({
        method: 'POST',
        path: '/api/v1/scenarios',
        body: scenario({ dnsRecords: [{ zone: 'example.test', name: 'app.other.test', type: 'A', ttl: 5 }] }),
      }),
      status: 400,
      field: 'dnsRecords[0].name',
      error: 'invalid_input',
    },
    {
      title: 'DNS name that only ends like the zone',
      req: () => ({
        method: 'PATCH',
        path: `/api/v1/scenarios/${f.scenario}`,
        body: { dnsRecords: [{ zone: 'example.test', name: 'evilexample.test', type: 'A', ttl: 5 }] },
      }),
      status: 400,
      field: 'dnsRecords[0].name',
    },

    // body size and content type
    {
      title: 'body over BODY_LIMIT_BYTES (POST group)',
      req: () => ({
        method: 'POST',
        path: '/api/v1/groups',
        body: { name: 'big', description: 'x'.repeat(BODY_LIMIT * 2) },
      }),
      status: 413,
      error: 'payload_too_large',
    },
    {
      title: 'body over BODY_LIMIT_BYTES (PATCH node)',
      req: () => ({
        method: 'PATCH',
        path: `/api/v1/nodes/${f.prod}`,
        body: { labels: { a: 'y'.repeat(BODY_LIMIT) } },
      }),
      status: 413,
    },
    {
      title: 'text/plain body',
      req: () => ({
        method: 'POST',
        path: '/api/v1/groups',
        rawBody: 'name=plain',
        contentType: 'text/plain',
      }),
      status: 415,
      error: 'unsupported_media_type',
    },
    {
      title: 'form body',
      req: () => ({
        method: 'POST',
        path: '/api/v1/tokens',
        rawBody: 'name=form&role=admin',
        contentType: 'application/x-www-form-urlencoded',
      }),
      status: 415,
    },
    {
      title: 'multipart body',
      req: () => ({
        method: 'POST',
        path: '/api/v1/nodes',
        rawBody: '--x\r\n\r\n--x--',
        contentType: 'multipart/form-data; boundary=x',
      }),
      status: 415,
    },
    {
      title: 'XML body (PATCH)',
      req: () => ({
        method: 'PATCH',
        path: `/api/v1/groups/${f.group}`,
        rawBody: '<group/>',
        contentType: 'application/xml',
      }),
      status: 415,
    },
  ];

  it.each(cases.map((c) => [c.title, c] as const))('%s', async (_title, c) => {
    const before = await snapshot(o);
    const r = c.req();
    const res = await http(o.url, r.method, r.path, {
      token: o.adminToken,
      body: r.body,
      rawBody: r.rawBody,
      headers: r.contentType ? { 'content-type': r.contentType } : undefined,
    });
    expect({ status: res.status, body: res.body }).toMatchObject({ status: c.status });
    expect(res.body).toMatchObject({
      statusCode: c.status,
      message: expect.any(String),
      requestId: expect.any(String),
    });
    if (c.error) expect(res.body.error).toBe(c.error);
    if (c.message) expect(res.body.message).toMatch(c.message);
    if (c.field) {
      const named: string[] = [
        ...((res.body.details?.fields ?? []) as { field: string }[]).map((x) => x.field),
        ...(res.body.details?.field ? [res.body.details.field] : []),
      ];
      expect(named).toContain(c.field);
      // Validation errors also name the field in the message, for humans reading a terminal.
      if (res.body.error === 'validation_failed') expect(res.body.message).toContain(c.field);
    }
    expect(await snapshot(o)).toEqual(before);
  });

  it('the snapshot notices an accepted change (control for the cases above)', async () => {
    const before = await snapshot(o);
    const res = await http(o.url, 'PATCH', `/api/v1/groups/${f.group}`, {
      token: o.adminToken,
      body: { description: 'changed' },
    });
    expect(res.status).toBe(200);
    const after = await snapshot(o);
    expect(after.groups).not.toEqual(before.groups);
    expect(after.audit_log).not.toEqual(before.audit_log);
  });

  it('a refused request never leaks a stack trace or SQL', async () => {
    const res = await http(o.url, 'PATCH', "/api/v1/nodes/'; DROP TABLE nodes; --", {
      token: o.adminToken,
      body: {},
    });
    expect(res.status).toBe(400);
    expect(JSON.stringify(res.body)).not.toMatch(/at .*\.ts:|QueryFailedError|SELECT/);
  });
});
