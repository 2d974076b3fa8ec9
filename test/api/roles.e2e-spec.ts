/**
 * Authentication and roles: tokens created through the tokens API, each role's allowed and refused
 * calls, missing/bad/revoked tokens (401), too-low roles and agent tokens (403).
 */
import { http, InProcessOrchestrator } from '../support/orchestrator';
import { count, createNode, createScenario, createToken, snapshot, startApi, unknownId } from './api-helpers';

describe('authentication and roles', () => {
  let o: InProcessOrchestrator;
  const t = { viewer: '', operator: '', admin: '', agent: '' };
  let scenarioId = '';
  let groupId = '';
  let nodeId = '';

  beforeAll(async () => {
    o = await startApi('roles');
    t.viewer = (await createToken(o, 'role-viewer', 'viewer')).token;
    t.operator = (await createToken(o, 'role-operator', 'operator')).token;
    t.admin = (await createToken(o, 'role-admin', 'admin')).token;
    const p = await createNode(o, 'role-prod');
    const r = await createNode(o, 'role-rep');
    nodeId = p.node.id;
    t.agent = p.agentToken;
    scenarioId = (await createScenario(o, 'role-app', p.node.id, [r.node.id])).id;
    groupId = (
      await http(o.url, 'POST', '/api/v1/groups', { token: o.adminToken, body: { name: 'role-group' } })
    ).body.id;
  });
  afterAll(async () => {
    await o?.close();
  });

  const reads = () => [
    ['GET', '/api/v1/nodes'],
    ['GET', `/api/v1/nodes/${nodeId}`],
    ['GET', '/api/v1/scenarios'],
    ['GET', `/api/v1/scenarios/${scenarioId}`],
    ['GET', '/api/v1/groups'],
    ['GET', `/api/v1/groups/${groupId}`],
  ];
  /** Admin-only writes, each with a body that would succeed for an admin. */
  const writes = (): [string, string, unknown?][] => [
    [
      'POST',
      '/api/v1/nodes',
      { name: 'role-new-node', address: '127.0.0.77', agentUrl: 'http://127.0.0.77:7400' },
    ],
    ['PATCH', `/api/v1/nodes/${nodeId}`, { labels: { site: 'x' } }],
    ['POST', `/api/v1/nodes/${nodeId}/rotate-tokens`],
    ['PATCH', `/api/v1/scenarios/${scenarioId}`, { failoverMode: 'auto' }],
    ['DELETE', `/api/v1/scenarios/${scenarioId}`],
    ['POST', '/api/v1/groups', { name: 'role-new-group' }],
    ['PATCH', `/api/v1/groups/${groupId}`, { description: 'x' }],
    ['PUT', `/api/v1/groups/${groupId}/members`, { scenarioIds: [scenarioId] }],
    ['POST', `/api/v1/groups/${groupId}/members/${scenarioId}`],
    ['DELETE', `/api/v1/groups/${groupId}`],
    ['GET', '/api/v1/tokens'],
    ['POST', '/api/v1/tokens', { name: 'role-new-token', role: 'viewer' }],
    ['DELETE', `/api/v1/tokens/${unknownId()}`],
  ];

  describe('401 without a valid token', () => {
    it.each([
      ['no Authorization header', undefined],
      ['a Basic header', { authorization: 'Basic YWRtaW46YWRtaW4=' }],
      ['an empty bearer', { authorization: 'Bearer ' }],
      ['an unknown token', { authorization: 'Bearer hat_doesnotexist' }],
      ['an unknown agent token', { authorization: 'Bearer hag_doesnotexist' }],
    ])('%s → 401 on reads and writes, nothing changes', async (_label, headers) => {
      const before = await snapshot(o);
      for (const [method, path] of reads()) {
        const r = await http(o.url, method, path, { headers });
        expect([method, path, r.status]).toEqual([method, path, 401]);
      }
      for (const [method, path, body] of writes()) {
        const r = await http(o.url, method, path, { headers, body });
        expect([method, path, r.status]).toEqual([method, path, 401]);
      }
      expect(await snapshot(o)).toEqual(before);
    });
  });

  it('viewer reads everything but the audit log and tokens, writes nothing', async () => {
    for (const [method, path] of reads()) {
      expect([path, (await http(o.url, method, path, { token: t.viewer })).status]).toEqual([path, 200]);
    }
    const audit = await http(o.url, 'GET', '/api/v1/audit', { token: t.viewer });
    expect(audit.status).toBe(403);
    expect(audit.body.message).toMatch(/requires role operator or higher; token has viewer/);
    const before = await snapshot(o);
    for (const [method, path, body] of writes()) {
      const r = await http(o.url, method, path, { token: t.viewer, body });
      expect([method, path, r.status]).toEqual([method, path, 403]);
      expect(r.body.message).toMatch(/requires role admin/);
    }
    expect(await snapshot(o)).toEqual(before);
  });

  it('operator reads and reads the audit log, but may not change the inventory or tokens', async () => {
    for (const [method, path] of reads()) {
      expect([path, (await http(o.url, method, path, { token: t.operator })).status]).toEqual([path, 200]);
    }
    expect((await http(o.url, 'GET', '/api/v1/audit', { token: t.operator })).status).toBe(200);
    const before = await snapshot(o);
    for (const [method, path, body] of writes()) {
      const r = await http(o.url, method, path, { token: t.operator, body });
      expect([method, path, r.status]).toEqual([method, path, 403]);
    }
    expect(await snapshot(o)).toEqual(before);
  });

  it('an agent token (hag_) is refused on the CRUD API with 403', async () => {
    expect(t.agent).toMatch(/^hag_/);
    const before = await snapshot(o);
    for (const [method, path] of [...reads(), ['GET', '/api/v1/audit']]) {
      const r = await http(o.url, method, path, { token: t.agent });
      expect([path, r.status]).toEqual([path, 403]);
      expect(r.body.message).toMatch(/agent tokens may only post heartbeats/);
    }
    for (const [method, path, body] of writes()) {
      expect([path, (await http(o.url, method, path, { token: t.agent, body })).status]).toEqual([path, 403]);
    }
    expect(await snapshot(o)).toEqual(before);
  });

  it('admin (created through the API) may do everything, and is the actor of what it does', async () => {
    for (const [method, path] of [...reads(), ['GET', '/api/v1/audit']]) {
      expect([path, (await http(o.url, method, path, { token: t.admin })).status]).toEqual([path, 200]);
    }
    const group = await http(o.url, 'POST', '/api/v1/groups', { token: t.admin, body: { name: 'by-admin' } });
    expect(group.status).toBe(201);
    const members = await http(o.url, 'PUT', `/api/v1/groups/${group.body.id}/members`, {
      token: t.admin,
      body: { scenarioIds: [scenarioId] },
    });
    expect(members.status).toBe(200);
    const tok = await http(o.url, 'POST', '/api/v1/tokens', {
      token: t.admin,
      body: { name: 'by-admin', role: 'viewer' },
    });
    expect(tok.status).toBe(201);
    expect(tok.body.createdBy).toBe('role-admin');
    expect((await http(o.url, 'GET', '/api/v1/tokens', { token: t.admin })).status).toBe(200);
    expect((await http(o.url, 'DELETE', `/api/v1/tokens/${tok.body.id}`, { token: t.admin })).status).toBe(
      204,
    );
    expect((await http(o.url, 'DELETE', `/api/v1/groups/${group.body.id}`, { token: t.admin })).status).toBe(
      204,
    );
    expect(await count(o, 'audit_log', `WHERE actor = 'role-admin'`)).toBe(5);
  });

  it('a revoked token gets 401 at once', async () => {
    const victim = await createToken(o, 'role-revoked', 'admin');
    expect((await http(o.url, 'GET', '/api/v1/nodes', { token: victim.token })).status).toBe(200);
    expect((await http(o.url, 'DELETE', `/api/v1/tokens/${victim.id}`, { token: o.adminToken })).status).toBe(
      204,
    );
    const r = await http(o.url, 'GET', '/api/v1/nodes', { token: victim.token });
    expect(r.status).toBe(401);
    expect(r.body.message).toMatch(/invalid or revoked/);
    expect(
      (await http(o.url, 'POST', '/api/v1/groups', { token: victim.token, body: { name: 'after-revoke' } }))
        .status,
    ).toBe(401);
    expect(await count(o, 'groups', `WHERE name = 'after-revoke'`)).toBe(0);
  });

  it("a rotated node's old agent token gets 401", async () => {
    const n = await createNode(o, 'role-rotate');
    expect((await http(o.url, 'GET', '/api/v1/nodes', { token: n.agentToken })).status).toBe(403);
    expect(
      (await http(o.url, 'POST', `/api/v1/nodes/${n.node.id}/rotate-tokens`, { token: o.adminToken })).status,
    ).toBe(201);
    expect((await http(o.url, 'GET', '/api/v1/nodes', { token: n.agentToken })).status).toBe(401);
  });

  it('health, metrics and the OpenAPI document need no token', async () => {
    for (const path of ['/health/live', '/health/ready', '/metrics', '/api/openapi.json']) {
      expect([path, (await http(o.url, 'GET', path)).status]).toEqual([path, 200]);
    }
  });
});
