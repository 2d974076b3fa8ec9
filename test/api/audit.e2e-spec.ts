/** Every mutation writes one audit entry naming its actor; the audit API reads them newest first. */
import { http, InProcessOrchestrator } from '../support/orchestrator';
import { createToken, rows, startApi } from './api-helpers';

describe('audit log', () => {
  let o: InProcessOrchestrator;
  let admin: { id: string; name: string; token: string };
  let operator: { token: string };
  let viewer: { token: string };
  const ids: Record<string, string> = {};
  const requestIds: Record<string, string> = {};

  beforeAll(async () => {
    o = await startApi('audit');
    admin = await createToken(o, 'audit-admin', 'admin');
    operator = await createToken(o, 'audit-operator', 'operator');
    viewer = await createToken(o, 'audit-viewer', 'viewer');

    // One of every mutation, all by the API-created admin.
    const call = async (label: string, method: string, path: string, body?: unknown, expected = 200) => {
      const r = await http(o.url, method, path, { token: admin.token, body });
      if (r.status !== expected) throw new Error(`${label}: ${r.status} ${JSON.stringify(r.body)}`);
      requestIds[label] = r.headers.get('x-request-id')!;
      return r.body;
    };
    ids.prod = (
      await call(
        'node.create',
        'POST',
        '/api/v1/nodes',
        { name: 'au-prod', address: '127.0.0.41', agentUrl: 'http://127.0.0.41:7400' },
        201,
      )
    ).node.id;
    ids.rep = (
      await call(
        'node.create#2',
        'POST',
        '/api/v1/nodes',
        { name: 'au-rep', address: '127.0.0.42', agentUrl: 'http://127.0.0.42:7400' },
        201,
      )
    ).node.id;
    await call('node.update', 'PATCH', `/api/v1/nodes/${ids.rep}`, { labels: { site: 'paris' } });
    await call('node.rotate-tokens', 'POST', `/api/v1/nodes/${ids.rep}/rotate-tokens`, undefined, 201);
    ids.scenario = (
      await call(
        'scenario.create',
        'POST',
        '/api/v1/scenarios',
        {
          name: 'au-app',
          productionNodeId: ids.prod,
          replicaNodeIds: [ids.rep],
          dnsRecords: [{ zone: 'example.test', name: 'au.example.test', type: 'A', ttl: 5 }],
        },
        201,
      )
    ).id;
    await call('scenario.update', 'PATCH', `/api/v1/scenarios/${ids.scenario}`, { failoverMode: 'auto' });
    ids.group = (await call('group.create', 'POST', '/api/v1/groups', { name: 'au-group' }, 201)).id;
    await call('group.update', 'PATCH', `/api/v1/groups/${ids.group}`, { description: 'audited' });
    await call('group.members.set', 'PUT', `/api/v1/groups/${ids.group}/members`, {
      scenarioIds: [ids.scenario],
    });
    await call(
      'group.members.remove',
      'DELETE',
      `/api/v1/groups/${ids.group}/members/${ids.scenario}`,
      undefined,
      204,
    );
    await call('group.members.add', 'POST', `/api/v1/groups/${ids.group}/members/${ids.scenario}`);
    await call('group.delete', 'DELETE', `/api/v1/groups/${ids.group}`, undefined, 204);
    ids.token = (
      await call('token.create', 'POST', '/api/v1/tokens', { name: 'au-temp', role: 'viewer' }, 201)
    ).id;
    await call('token.revoke', 'DELETE', `/api/v1/tokens/${ids.token}`, undefined, 204);
    await call('scenario.delete', 'DELETE', `/api/v1/scenarios/${ids.scenario}`, undefined, 204);
    await call('node.delete', 'DELETE', `/api/v1/nodes/${ids.rep}`, undefined, 204);
  });
  afterAll(async () => {
    await o?.close();
  });

  it('each mutation wrote exactly one entry with the actor, target and request id', async () => {
    const expected: [string, string, string][] = [
      ['node.create', 'node', ids.prod],
      ['node.create#2', 'node', ids.rep],
      ['node.update', 'node', ids.rep],
      ['node.rotate-tokens', 'node', ids.rep],
      ['scenario.create', 'scenario', ids.scenario],
      ['scenario.update', 'scenario', ids.scenario],
      ['group.create', 'group', ids.group],
      ['group.update', 'group', ids.group],
      ['group.members.set', 'group', ids.group],
      ['group.members.remove', 'group', ids.group],
      ['group.members.add', 'group', ids.group],
      ['group.delete', 'group', ids.group],
      ['token.create', 'token', ids.token],
      ['token.revoke', 'token', ids.token],
      ['scenario.delete', 'scenario', ids.scenario],
      ['node.delete', 'node', ids.rep],
    ];
    const entries = await rows(o, `SELECT * FROM audit_log WHERE actor = 'audit-admin' ORDER BY id`);
    expect(entries.map((e) => [e.action, e.targetType, e.targetId])).toEqual(
      expected.map(([label, type, id]) => [label.replace(/#.*/, ''), type, id]),
    );
    for (const [i, [label]] of expected.entries()) {
      expect([label, entries[i].requestId]).toEqual([label, requestIds[label]]);
      expect(entries[i].at).toBeInstanceOf(Date);
    }
    const members = entries.find((e) => e.action === 'group.members.set');
    expect(members?.details).toEqual({ added: [ids.scenario], removed: [] });
    // The tokens created in beforeAll were audited with the bootstrap admin as actor.
    const tokenCreates = await rows(
      o,
      `SELECT actor FROM audit_log WHERE action = 'token.create' AND actor = 'bootstrap-admin'`,
    );
    expect(tokenCreates).toHaveLength(3);
  });

  it('GET /audit lists newest first, filters by target, actor and action, and paginates', async () => {
    const all = await http(o.url, 'GET', '/api/v1/audit?limit=500', { token: operator.token });
    expect(all.status).toBe(200);
    const numbers = all.body.items.map((e: { id: string }) => Number(e.id));
    expect(numbers).toEqual([...numbers].sort((a, b) => b - a));
    expect(all.body.total).toBe(all.body.items.length);
    expect(all.body.items[0]).toMatchObject({
      action: 'node.delete',
      actor: 'audit-admin',
      targetId: ids.rep,
    });

    const group = await http(o.url, 'GET', `/api/v1/audit?targetType=group&targetId=${ids.group}`, {
      token: operator.token,
    });
    expect(group.body.items.map((e: { action: string }) => e.action)).toEqual([
      'group.delete',
      'group.members.add',
      'group.members.remove',
      'group.members.set',
      'group.update',
      'group.create',
    ]);
    expect(group.body.total).toBe(6);

    const page = await http(
      o.url,
      'GET',
      `/api/v1/audit?targetType=group&targetId=${ids.group}&limit=2&offset=2`,
      {
        token: operator.token,
      },
    );
    expect(page.body).toMatchObject({ total: 6, limit: 2, offset: 2 });
    expect(page.body.items.map((e: { action: string }) => e.action)).toEqual([
      'group.members.remove',
      'group.members.set',
    ]);

    const byActor = await http(o.url, 'GET', '/api/v1/audit?actor=bootstrap-admin', {
      token: operator.token,
    });
    expect(byActor.body.items.every((e: { actor: string }) => e.actor === 'bootstrap-admin')).toBe(true);
    expect(byActor.body.total).toBe(3);
    const byAction = await http(o.url, 'GET', '/api/v1/audit?action=token.revoke', { token: operator.token });
    expect(byAction.body.items).toEqual([
      expect.objectContaining({
        actor: 'audit-admin',
        targetType: 'token',
        targetId: ids.token,
        details: { name: 'au-temp' },
      }),
    ]);
    const none = await http(o.url, 'GET', '/api/v1/audit?targetType=node&targetId=nothing-here', {
      token: operator.token,
    });
    expect(none.body).toMatchObject({ items: [], total: 0 });
  });

  it('is for operators and admins only', async () => {
    expect((await http(o.url, 'GET', '/api/v1/audit', { token: viewer.token })).status).toBe(403);
    expect((await http(o.url, 'GET', '/api/v1/audit', { token: admin.token })).status).toBe(200);
    expect((await http(o.url, 'GET', '/api/v1/audit')).status).toBe(401);
  });

  it('a refused mutation writes no entry', async () => {
    const before = (await rows(o, 'SELECT count(*)::int AS n FROM audit_log'))[0].n;
    await http(o.url, 'POST', '/api/v1/groups', { token: viewer.token, body: { name: 'nope' } });
    await http(o.url, 'POST', '/api/v1/groups', { token: admin.token, body: { name: 'Bad Name' } });
    await http(o.url, 'DELETE', `/api/v1/nodes/${ids.prod}x`, { token: admin.token });
    expect((await rows(o, 'SELECT count(*)::int AS n FROM audit_log'))[0].n).toBe(before);
  });
});
