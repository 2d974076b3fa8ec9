import { http, InProcessOrchestrator } from '../support/orchestrator';
import { startApi } from './api-helpers';

describe('nodes and scenarios (smoke)', () => {
  let o: InProcessOrchestrator;
  beforeAll(async () => {
    o = await startApi('smoke');
  });
  afterAll(async () => {
    await o?.close();
  });

  it('creates nodes and a scenario', async () => {
    const a = await http(o.url, 'POST', '/api/v1/nodes', {
      token: o.adminToken,
      body: { name: 'db1', address: '127.0.0.21', agentUrl: 'http://127.0.0.21:7400' },
    });
    expect(a.status).toBe(201);
    expect(a.body.agentToken).toMatch(/^hag_/);
    const b = await http(o.url, 'POST', '/api/v1/nodes', {
      token: o.adminToken,
      body: { name: 'db2', address: '127.0.0.22', agentUrl: 'http://127.0.0.22:7400' },
    });
    const s = await http(o.url, 'POST', '/api/v1/scenarios', {
      token: o.adminToken,
      body: {
        name: 'orders',
        productionNodeId: a.body.node.id,
        replicaNodeIds: [b.body.node.id],
        dnsRecords: [{ zone: 'example.test', name: 'app.example.test', type: 'A', ttl: 5 }],
      },
    });
    expect(s.status).toBe(201);
    expect(s.body).toMatchObject({ state: 'stopped', epoch: 1, activeNodeId: a.body.node.id });
    const dup = await http(o.url, 'POST', '/api/v1/scenarios', {
      token: o.adminToken,
      body: {
        name: 'orders2',
        productionNodeId: a.body.node.id,
        replicaNodeIds: [a.body.node.id],
        dnsRecords: [],
      },
    });
    expect(dup.status).toBe(409);
    const del = await http(o.url, 'DELETE', `/api/v1/nodes/${a.body.node.id}`, { token: o.adminToken });
    expect(del.status).toBe(409);
    const bad = await http(o.url, 'POST', '/api/v1/nodes', {
      token: o.adminToken,
      body: { name: 'X', address: 5 },
    });
    expect(bad.status).toBe(400);
    expect(bad.body.message).toMatch(/name/);
  });
});
