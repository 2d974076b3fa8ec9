import { hashToken } from '../../apps/orchestrator/src/auth/token-hash';
import { DEFAULT_CHECKS, DEFAULT_POLICY } from '../../apps/orchestrator/src/scenarios/scenario-defaults';
import { http, InProcessOrchestrator } from '../support/orchestrator';
import { count, createNode, createScenario, rows, startApi } from './api-helpers';

describe('CRUD happy paths (persisted rows)', () => {
  let o: InProcessOrchestrator;
  beforeAll(async () => {
    o = await startApi('crud');
  });
  afterAll(async () => {
    await o?.close();
  });

  describe('nodes', () => {
    it('creates, reads, lists, updates, rotates and deletes a node', async () => {
      const created = await http(o.url, 'POST', '/api/v1/nodes', {
        token: o.adminToken,
        body: {
          name: 'crud-n1',
          address: '127.0.0.31',
          agentUrl: 'http://127.0.0.31:7400/',
          labels: { site: 'paris' },
        },
      });
      expect(created.status).toBe(201);
      const { node, agentToken, actionToken } = created.body;
      expect(agentToken).toMatch(/^hag_/);
      expect(actionToken).toMatch(/^haa_/);
      expect(node).not.toHaveProperty('agentTokenHash');
      expect(node).not.toHaveProperty('actionToken');

      const [row] = await rows(o, 'SELECT * FROM nodes WHERE id = $1', [node.id]);
      expect(row).toMatchObject({
        name: 'crud-n1',
        address: '127.0.0.31',
        agentUrl: 'http://127.0.0.31:7400',
        labels: { site: 'paris' },
        agentTokenHash: hashToken(agentToken),
        actionToken,
      });

      const got = await http(o.url, 'GET', `/api/v1/nodes/${node.id}`, { token: o.adminToken });
      expect(got.status).toBe(200);
      expect(got.body).toMatchObject({ id: node.id, name: 'crud-n1', labels: { site: 'paris' } });

      await createNode(o, 'crud-n2');
      const byLabel = await http(o.url, 'GET', '/api/v1/nodes?label=site%3Dparis', { token: o.adminToken });
      expect(byLabel.status).toBe(200);
      expect(byLabel.body.items.map((n: { name: string }) => n.name)).toEqual(['crud-n1']);
      const page = await http(o.url, 'GET', '/api/v1/nodes?limit=1&offset=1', { token: o.adminToken });
      expect(page.body).toMatchObject({ total: 2, limit: 1, offset: 1 });
      expect(page.body.items).toHaveLength(1);

      const patched = await http(o.url, 'PATCH', `/api/v1/nodes/${node.id}`, {
        token: o.adminToken,
        body: { address: '127.0.0.32', labels: { site: 'lyon' } },
      });
      expect(patched.status).toBe(200);
      const [after] = await rows(o, 'SELECT address, labels, name FROM nodes WHERE id = $1', [node.id]);
      expect(after).toEqual({ address: '127.0.0.32', labels: { site: 'lyon' }, name: 'crud-n1' });

      const rotated = await http(o.url, 'POST', `/api/v1/nodes/${node.id}/rotate-tokens`, {
        token: o.adminToken,
      });
      expect(rotated.status).toBe(201);
      expect(rotated.body.agentToken).not.toBe(agentToken);
      const [secrets] = await rows(o, 'SELECT "agentTokenHash", "actionToken" FROM nodes WHERE id = $1', [
        node.id,
      ]);
      expect(secrets).toEqual({
        agentTokenHash: hashToken(rotated.body.agentToken),
        actionToken: rotated.body.actionToken,
      });

      const del = await http(o.url, 'DELETE', `/api/v1/nodes/${node.id}`, { token: o.adminToken });
      expect(del.status).toBe(204);
      expect(await count(o, 'nodes', 'WHERE id = $1', [node.id])).toBe(0);
      expect((await http(o.url, 'GET', `/api/v1/nodes/${node.id}`, { token: o.adminToken })).status).toBe(
        404,
      );
    });
  });

  describe('scenarios', () => {
    it('creates, reads, lists, updates and deletes a scenario', async () => {
      const p = await createNode(o, 'crud-prod');
      const r1 = await createNode(o, 'crud-rep1');
      const r2 = await createNode(o, 'crud-rep2');
      const created = await http(o.url, 'POST', '/api/v1/scenarios', {
        token: o.adminToken,
        body: {
          name: 'crud-orders',
          productionNodeId: p.node.id,
          replicaNodeIds: [r1.node.id, r2.node.id],
          dnsRecords: [{ zone: 'Example.Test', name: 'Orders.Example.Test', type: 'A', ttl: 5 }],
          failoverMode: 'manual',
          policy: { holdDownMs: 1000 },
        },
      });
      expect([created.status, created.body.message]).toEqual([201, undefined]);
      const id = created.body.id;
      expect(created.body).toMatchObject({
        state: 'stopped',
        epoch: 1,
        activeNodeId: p.node.id,
        replicaNodeIds: [r1.node.id, r2.node.id],
      });
      expect(created.body).not.toHaveProperty('peerToken');

      const [row] = await rows(o, 'SELECT * FROM scenarios WHERE id = $1', [id]);
      expect(row).toMatchObject({
        name: 'crud-orders',
        productionNodeId: p.node.id,
        activeNodeId: p.node.id,
        state: 'stopped',
        epoch: 1,
        failoverMode: 'manual',
        dnsRecords: [{ zone: 'example.test', name: 'orders.example.test', type: 'A', ttl: 5 }],
      });
      // Defaults fill what the request left out.
      expect(row.policy).toEqual({ ...DEFAULT_POLICY, holdDownMs: 1000 });
      expect(row.checks).toEqual(DEFAULT_CHECKS);
      expect(row.peerToken).toEqual(expect.any(String));
      expect(
        await rows(
          o,
          'SELECT "nodeId", position FROM scenario_replicas WHERE "scenarioId" = $1 ORDER BY position',
          [id],
        ),
      ).toEqual([
        { nodeId: r1.node.id, position: 0 },
        { nodeId: r2.node.id, position: 1 },
      ]);

      const got = await http(o.url, 'GET', `/api/v1/scenarios/${id}`, { token: o.adminToken });
      expect(got.status).toBe(200);
      expect(got.body.name).toBe('crud-orders');
      const byNode = await http(o.url, 'GET', `/api/v1/scenarios?nodeId=${r2.node.id}`, {
        token: o.adminToken,
      });
      expect(byNode.body.items.map((s: { id: string }) => s.id)).toEqual([id]);
      const byState = await http(o.url, 'GET', '/api/v1/scenarios?state=running', { token: o.adminToken });
      expect(byState.body.total).toBe(0);

      const patched = await http(o.url, 'PATCH', `/api/v1/scenarios/${id}`, {
        token: o.adminToken,
        body: { failoverMode: 'auto', replicaNodeIds: [r2.node.id] },
      });
      expect(patched.status).toBe(200);
      expect(patched.body).toMatchObject({ failoverMode: 'auto', replicaNodeIds: [r2.node.id] });
      const [updated] = await rows(o, 'SELECT "failoverMode" FROM scenarios WHERE id = $1', [id]);
      expect(updated.failoverMode).toBe('auto');
      expect(
        await rows(o, 'SELECT "nodeId", position FROM scenario_replicas WHERE "scenarioId" = $1', [id]),
      ).toEqual([{ nodeId: r2.node.id, position: 0 }]);

      const del = await http(o.url, 'DELETE', `/api/v1/scenarios/${id}`, { token: o.adminToken });
      expect(del.status).toBe(204);
      expect(await count(o, 'scenarios', 'WHERE id = $1', [id])).toBe(0);
      expect(await count(o, 'scenario_replicas', 'WHERE "scenarioId" = $1', [id])).toBe(0);
      // The nodes are free again.
      expect(
        (await http(o.url, 'DELETE', `/api/v1/nodes/${r1.node.id}`, { token: o.adminToken })).status,
      ).toBe(204);
    });
  });

  describe('groups', () => {
    it('creates a group with members, lists by scenario, updates, replaces, adds, removes and deletes', async () => {
      const p = await createNode(o, 'grp-prod');
      const r = await createNode(o, 'grp-rep');
      const s1 = await createScenario(o, 'grp-a', p.node.id, [r.node.id]);
      const s2 = await createScenario(o, 'grp-b', p.node.id, [r.node.id]);
      const s3 = await createScenario(o, 'grp-c', p.node.id, [r.node.id]);

      const created = await http(o.url, 'POST', '/api/v1/groups', {
        token: o.adminToken,
        body: {
          name: 'paris',
          description: 'Paris site',
          switchAllIfAnyFails: true,
          scenarioIds: [s1.id, s2.id],
        },
      });
      expect(created.status).toBe(201);
      const id = created.body.id;
      expect(created.body).toMatchObject({
        name: 'paris',
        description: 'Paris site',
        switchAllIfAnyFails: true,
        scenarioIds: [s1.id, s2.id],
      });
      const [row] = await rows(
        o,
        'SELECT name, description, "switchAllIfAnyFails" FROM groups WHERE id = $1',
        [id],
      );
      expect(row).toEqual({ name: 'paris', description: 'Paris site', switchAllIfAnyFails: true });
      const members = async () =>
        (
          await rows<{ scenarioId: string }>(
            o,
            'SELECT "scenarioId" FROM group_members WHERE "groupId" = $1',
            [id],
          )
        )
          .map((m) => m.scenarioId)
          .sort();
      expect(await members()).toEqual([s1.id, s2.id].sort());

      const other = await http(o.url, 'POST', '/api/v1/groups', {
        token: o.adminToken,
        body: { name: 'lyon' },
      });
      expect(other.status).toBe(201);
      expect(other.body).toMatchObject({ description: '', switchAllIfAnyFails: false, scenarioIds: [] });

      const got = await http(o.url, 'GET', `/api/v1/groups/${id}`, { token: o.adminToken });
      expect(got.body.scenarioIds).toEqual([s1.id, s2.id]);
      const all = await http(o.url, 'GET', '/api/v1/groups', { token: o.adminToken });
      expect(all.body).toMatchObject({ total: 2, limit: 50, offset: 0 });
      expect(all.body.items.map((g: { name: string }) => g.name)).toEqual(['lyon', 'paris']);
      const byScenario = await http(o.url, 'GET', `/api/v1/groups?scenarioId=${s2.id}`, {
        token: o.adminToken,
      });
      expect(byScenario.body.items.map((g: { id: string }) => g.id)).toEqual([id]);
      const paged = await http(o.url, 'GET', '/api/v1/groups?limit=1&offset=1', { token: o.adminToken });
      expect(paged.body.items.map((g: { name: string }) => g.name)).toEqual(['paris']);
      // Scenarios list by group (scenarios API reads the same membership).
      const scenariosOfGroup = await http(o.url, 'GET', `/api/v1/scenarios?groupId=${id}`, {
        token: o.adminToken,
      });
      expect(scenariosOfGroup.body.items.map((s: { id: string }) => s.id).sort()).toEqual(
        [s1.id, s2.id].sort(),
      );

      const patched = await http(o.url, 'PATCH', `/api/v1/groups/${id}`, {
        token: o.adminToken,
        body: { description: 'Paris DC', switchAllIfAnyFails: false },
      });
      expect(patched.status).toBe(200);
      expect(patched.body).toMatchObject({
        name: 'paris',
        description: 'Paris DC',
        switchAllIfAnyFails: false,
      });
      const [afterPatch] = await rows(
        o,
        'SELECT description, "switchAllIfAnyFails" FROM groups WHERE id = $1',
        [id],
      );
      expect(afterPatch).toEqual({ description: 'Paris DC', switchAllIfAnyFails: false });

      const replaced = await http(o.url, 'PUT', `/api/v1/groups/${id}/members`, {
        token: o.adminToken,
        body: { scenarioIds: [s2.id, s3.id] },
      });
      expect(replaced.status).toBe(200);
      expect(replaced.body.scenarioIds).toEqual([s2.id, s3.id]);
      expect(await members()).toEqual([s2.id, s3.id].sort());

      const added = await http(o.url, 'POST', `/api/v1/groups/${id}/members/${s1.id}`, {
        token: o.adminToken,
      });
      expect(added.status).toBe(200);
      expect(added.body.scenarioIds).toEqual([s1.id, s2.id, s3.id]);
      const again = await http(o.url, 'POST', `/api/v1/groups/${id}/members/${s1.id}`, {
        token: o.adminToken,
      });
      expect(again.status).toBe(200);
      expect(await members()).toEqual([s1.id, s2.id, s3.id].sort());

      const removed = await http(o.url, 'DELETE', `/api/v1/groups/${id}/members/${s2.id}`, {
        token: o.adminToken,
      });
      expect(removed.status).toBe(204);
      expect(await members()).toEqual([s1.id, s3.id].sort());
      const notMember = await http(o.url, 'DELETE', `/api/v1/groups/${id}/members/${s2.id}`, {
        token: o.adminToken,
      });
      expect(notMember.status).toBe(404);

      const emptied = await http(o.url, 'PUT', `/api/v1/groups/${id}/members`, {
        token: o.adminToken,
        body: { scenarioIds: [] },
      });
      expect(emptied.body.scenarioIds).toEqual([]);
      expect(await members()).toEqual([]);

      // Deleting a scenario drops its memberships; deleting a group keeps its scenarios.
      await http(o.url, 'PUT', `/api/v1/groups/${id}/members`, {
        token: o.adminToken,
        body: { scenarioIds: [s1.id, s3.id] },
      });
      expect(
        (await http(o.url, 'DELETE', `/api/v1/scenarios/${s3.id}`, { token: o.adminToken })).status,
      ).toBe(204);
      expect(await members()).toEqual([s1.id]);
      const del = await http(o.url, 'DELETE', `/api/v1/groups/${id}`, { token: o.adminToken });
      expect(del.status).toBe(204);
      expect(await count(o, 'groups', 'WHERE id = $1', [id])).toBe(0);
      expect(await count(o, 'group_members', 'WHERE "groupId" = $1', [id])).toBe(0);
      expect(await count(o, 'scenarios', 'WHERE id = $1', [s1.id])).toBe(1);
      expect((await http(o.url, 'GET', `/api/v1/groups/${id}`, { token: o.adminToken })).status).toBe(404);
    });

    it('refuses to delete a group while a group operation is pending', async () => {
      const g = await http(o.url, 'POST', '/api/v1/groups', { token: o.adminToken, body: { name: 'busy' } });
      const [op] = await rows(
        o,
        `INSERT INTO operations ("groupId", type, state, trigger, "requestedBy") VALUES ($1, 'group-failover', 'running', 'manual', 'test') RETURNING id`,
        [g.body.id],
      );
      const del = await http(o.url, 'DELETE', `/api/v1/groups/${g.body.id}`, { token: o.adminToken });
      expect(del.status).toBe(409);
      expect(del.body).toMatchObject({ error: 'operation_in_progress', details: { operationId: op.id } });
      expect(await count(o, 'groups', 'WHERE id = $1', [g.body.id])).toBe(1);
      await rows(o, `UPDATE operations SET state = 'succeeded' WHERE id = $1`, [op.id]);
      expect(
        (await http(o.url, 'DELETE', `/api/v1/groups/${g.body.id}`, { token: o.adminToken })).status,
      ).toBe(204);
    });
  });

  describe('tokens', () => {
    it('creates a token shown once and stored hashed, lists without secrets, revokes', async () => {
      const created = await http(o.url, 'POST', '/api/v1/tokens', {
        token: o.adminToken,
        body: { name: 'crud-ci', role: 'operator' },
      });
      expect(created.status).toBe(201);
      expect(created.body).toMatchObject({
        name: 'crud-ci',
        role: 'operator',
        createdBy: 'bootstrap-admin',
        revokedAt: null,
      });
      const token: string = created.body.token;
      expect(token).toMatch(/^hat_[A-Za-z0-9_-]{40,}$/);

      const [row] = await rows(o, 'SELECT * FROM api_tokens WHERE id = $1', [created.body.id]);
      expect(row).toMatchObject({
        name: 'crud-ci',
        role: 'operator',
        createdBy: 'bootstrap-admin',
        revokedAt: null,
      });
      expect(row.tokenHash).toBe(hashToken(token));
      expect(JSON.stringify(row)).not.toContain(token);

      const list = await http(o.url, 'GET', '/api/v1/tokens', { token: o.adminToken });
      expect(list.status).toBe(200);
      const item = list.body.items.find((t: { id: string }) => t.id === created.body.id);
      expect(item).toEqual({
        id: created.body.id,
        name: 'crud-ci',
        role: 'operator',
        createdBy: 'bootstrap-admin',
        createdAt: expect.any(String),
        revokedAt: null,
      });
      expect(JSON.stringify(list.body)).not.toContain(row.tokenHash);
      expect(JSON.stringify(list.body)).not.toContain('hat_');
      const one = await http(o.url, 'GET', `/api/v1/tokens/${created.body.id}`, { token: o.adminToken });
      expect(one.body).toEqual(item);

      // The new token works.
      expect((await http(o.url, 'GET', '/api/v1/audit', { token })).status).toBe(200);

      const del = await http(o.url, 'DELETE', `/api/v1/tokens/${created.body.id}`, { token: o.adminToken });
      expect(del.status).toBe(204);
      const [revoked] = await rows(o, 'SELECT "revokedAt" FROM api_tokens WHERE id = $1', [created.body.id]);
      expect(revoked.revokedAt).toBeInstanceOf(Date);
      expect((await http(o.url, 'GET', '/api/v1/audit', { token })).status).toBe(401);

      const active = await http(o.url, 'GET', '/api/v1/tokens', { token: o.adminToken });
      expect(active.body.items.map((t: { id: string }) => t.id)).not.toContain(created.body.id);
      const withRevoked = await http(o.url, 'GET', '/api/v1/tokens?includeRevoked=true', {
        token: o.adminToken,
      });
      expect(withRevoked.body.items.find((t: { id: string }) => t.id === created.body.id).revokedAt).toEqual(
        expect.any(String),
      );

      // Revoking again changes nothing (and writes no second audit entry).
      expect(
        (await http(o.url, 'DELETE', `/api/v1/tokens/${created.body.id}`, { token: o.adminToken })).status,
      ).toBe(204);
      expect(
        await count(o, 'audit_log', `WHERE action = 'token.revoke' AND "targetId" = $1`, [created.body.id]),
      ).toBe(1);
    });
  });
});
