/**
 * Group operations end to end: two member scenarios (each its own production, replica and DNS name)
 * in one group without switch-all-if-any-fails, real agents, PostgreSQL, Redis and DNS.
 */
import { randomUUID } from 'node:crypto';
import { createToken } from '../api/api-helpers';
import { Cluster, ClusterMember } from '../support/cluster';
import { http, waitFor } from '../support/orchestrator';

describe('group failover, failback, switchover, start and stop (real agents, PostgreSQL, Redis, DNS)', () => {
  const c = new Cluster({
    label: 'groupops',
    addressPrefix: '127.0.0.17',
    agentPort: 17170,
    dnsPort: 15170,
    group: { members: 2, switchAllIfAnyFails: false },
    // Short hold-down so the last test's automatic failover is not suppressed by the earlier ones.
    policy: { holdDownMs: 1000 },
    // A slow promote keeps a group's operations running long enough to collide with a second request.
    actionDelaySeconds: { promote: 1 },
  });

  beforeAll(async () => {
    await c.start();
  });
  afterAll(async () => {
    await c.close();
  });

  const group = (op: string, body: unknown, id = c.groupId) =>
    c.api('POST', `/api/v1/groups/${id}/${op}`, body);
  const operationCount = async () => (await c.api('GET', '/api/v1/operations?limit=1')).body.total as number;
  const member = (scenarioId: string) => c.members.find((m) => m.scenarioId === scenarioId)!;
  const dnsOf = (m: ClusterMember) => c.dnsAnswer(c.opts.dnsPort, m.record);

  /** Waits for every operation of a group answer and checks each succeeded with the group id. */
  async function succeeded(body: any): Promise<any[]> {
    const ops = [];
    for (const o of body.operations) {
      const op = await c.waitOperation(o.id);
      expect(op).toMatchObject({ state: 'succeeded', groupId: c.groupId, trigger: 'manual' });
      ops.push(op);
    }
    return ops;
  }

  it('bad input: unknown group 404, missing reason 400, bad force 400, viewer 403, empty group 409; nothing starts', async () => {
    const before = await operationCount();
    const unknown = await group('failover', { reason: 'x' }, randomUUID());
    expect(unknown.status).toBe(404);
    expect(unknown.body.message).toMatch(/group/);
    const noReason = await group('failover', {});
    expect(noReason.status).toBe(400);
    expect(noReason.body.message).toMatch(/reason/);
    const badForce = await group('failover', { reason: 'x', force: 'yes' });
    expect(badForce.status).toBe(400);
    expect(badForce.body.message).toMatch(/force/);
    const badId = await group('stop', { reason: 'x' }, 'not-a-uuid');
    expect(badId.status).toBe(400);

    const viewer = await createToken(c.o, 'group-viewer', 'viewer');
    const forbidden = await http(c.o.url, 'POST', `/api/v1/groups/${c.groupId}/stop`, {
      token: viewer.token,
      body: { reason: 'viewers cannot act' },
    });
    expect(forbidden.status).toBe(403);

    const empty = await c.api('POST', '/api/v1/groups', { name: 'empty-group' });
    expect(empty.status).toBe(201);
    const none = await group('failover', { reason: 'nothing to do' }, empty.body.id);
    expect(none.status).toBe(409);
    expect(none.body.message).toMatch(/no member/);

    expect(await operationCount()).toBe(before);
    for (const m of c.members) expect((await c.scenario(m.scenarioId)).state).toBe('running');
  });

  it('the group operation routes are in the OpenAPI document', async () => {
    const doc = (await http(c.o.url, 'GET', '/api/openapi.json')).body;
    for (const op of ['failover', 'switchover', 'failback', 'start', 'stop']) {
      const route = doc.paths[`/api/v1/groups/{id}/${op}`].post;
      expect(Object.keys(route.responses)).toEqual(
        expect.arrayContaining(['202', '400', '403', '404', '409']),
      );
    }
    expect(doc.components.schemas.GroupFailoverDto.required).toEqual(['reason']);
    expect(Object.keys(doc.components.schemas.GroupOperationResult.properties)).toEqual(
      expect.arrayContaining(['groupId', 'operations', 'refused']),
    );
    expect(doc.paths['/api/v1/operations'].get.parameters.map((x: { name: string }) => x.name)).toContain(
      'groupId',
    );
  });

  it('group failover: one operation per member with the groupId, both DNS names answer their replicas', async () => {
    const r = await group('failover', { reason: 'site maintenance 17' });
    expect(r.status).toBe(202);
    expect(r.body).toMatchObject({ groupId: c.groupId, type: 'failover', refused: [] });
    expect(r.body.operations.map((o: any) => o.scenarioId).sort()).toEqual(
      c.members.map((m) => m.scenarioId).sort(),
    );
    for (const op of await succeeded(r.body)) {
      const m = member(op.scenarioId);
      expect(op.type).toBe('failover');
      expect(op.reason).toBe('site maintenance 17');
      expect(op.steps.find((s: any) => s.name === 'fence').output.fencedBy).toBe('agent');
      expect(await dnsOf(m)).toEqual([m.replica.address]);
      expect(await c.scenario(m.scenarioId)).toMatchObject({
        state: 'failed_over',
        epoch: 2,
        activeNodeId: m.replica.id,
      });
      expect(c.actionsLog(m.production)).toEqual([expect.stringMatching(/^demote epoch=2 /)]);
      expect(c.actionsLog(m.replica)).toEqual([expect.stringMatching(/^promote epoch=2 /)]);
    }
    const listed = await c.api('GET', `/api/v1/operations?groupId=${c.groupId}`);
    expect(listed.body.items.map((o: any) => o.id).sort()).toEqual(
      r.body.operations.map((o: any) => o.id).sort(),
    );
    const audit = await c.api('GET', `/api/v1/audit?targetId=${c.groupId}&action=group.failover.requested`);
    expect(audit.body.items).toEqual([
      expect.objectContaining({ actor: expect.any(String), reason: 'site maintenance 17' }),
    ]);
    expect(audit.body.items[0].details.operationIds.sort()).toEqual(
      r.body.operations.map((o: any) => o.id).sort(),
    );
  });

  it('group failback returns both; while it runs, a second group request finds every member busy → 409', async () => {
    const r = await group('failback', { reason: 'site repaired' });
    expect(r.status).toBe(202);
    expect(r.body.operations).toHaveLength(2);
    const busy = await group('switchover', { reason: 'too early' });
    expect(busy.status).toBe(409);
    expect(busy.body.message).toMatch(/no member/);
    expect(
      busy.body.details.refused.map((x: any) => [x.scenarioId, x.statusCode, x.error, x.details.operationId]),
    ).toEqual(
      expect.arrayContaining(
        r.body.operations.map((o: any) => [o.scenarioId, 409, 'operation_in_progress', o.id]),
      ),
    );
    await succeeded(r.body);
    for (const m of c.members) {
      expect(await dnsOf(m)).toEqual([m.production.address]);
      expect(await c.scenario(m.scenarioId)).toMatchObject({
        state: 'running',
        activeNodeId: m.production.id,
      });
    }
    expect((await c.api('GET', `/api/v1/operations?groupId=${c.groupId}&type=switchover`)).body.total).toBe(
      0,
    );
  });

  it('a stopped member is reported in refused; group start, stop, switchover and failback', async () => {
    const [m1, m2] = c.members;
    const stop = await c.api('POST', `/api/v1/scenarios/${m2.scenarioId}/stop`, { reason: 'member 2 off' });
    expect(stop.status).toBe(202);
    await c.waitState('stopped', 30000, m2.scenarioId);

    const sw = await group('switchover', { reason: 'only the running member' });
    expect(sw.status).toBe(202);
    expect(sw.body.operations.map((o: any) => o.scenarioId)).toEqual([m1.scenarioId]);
    expect(sw.body.refused).toEqual([
      expect.objectContaining({ scenarioId: m2.scenarioId, statusCode: 409, error: 'invalid_state' }),
    ]);
    expect(sw.body.refused[0].message).toMatch(/stopped/);
    await succeeded(sw.body);
    expect(await dnsOf(m1)).toEqual([m1.replica.address]);
    expect(await dnsOf(m2)).toEqual([m2.production.address]);

    // start: only the stopped member can start; the failed-over one is refused.
    const start = await group('start', { reason: 'member 2 back' });
    expect(start.status).toBe(202);
    expect(start.body.operations.map((o: any) => o.scenarioId)).toEqual([m2.scenarioId]);
    expect(start.body.refused).toEqual([
      expect.objectContaining({ scenarioId: m1.scenarioId, statusCode: 409, error: 'invalid_state' }),
    ]);
    await succeeded(start.body);

    const back = await group('failback', { reason: 'member 1 back' });
    expect(back.status).toBe(202);
    expect(back.body.operations.map((o: any) => o.scenarioId)).toEqual([m1.scenarioId]);
    expect(back.body.refused).toEqual([
      expect.objectContaining({ scenarioId: m2.scenarioId, statusCode: 409 }),
    ]);
    await succeeded(back.body);

    const stopAll = await group('stop', { reason: 'whole application off' });
    expect(stopAll.status).toBe(202);
    expect(stopAll.body.refused).toEqual([]);
    await succeeded(stopAll.body);
    for (const m of c.members) expect((await c.scenario(m.scenarioId)).state).toBe('stopped');

    const startAll = await group('start', { reason: 'whole application on' });
    expect(startAll.status).toBe(202);
    expect(startAll.body.operations).toHaveLength(2);
    await succeeded(startAll.body);
    for (const m of c.members) {
      expect(await c.scenario(m.scenarioId)).toMatchObject({
        state: 'running',
        activeNodeId: m.production.id,
      });
      expect(await dnsOf(m)).toEqual([m.production.address]);
    }
  });

  it('switchAllIfAnyFails=false: kill -9 of member 1 production fails over member 1 only', async () => {
    const [m1, m2] = c.members;
    await waitFor(
      'hold-down over',
      async () => {
        for (const m of c.members) {
          const s = await c.scenario(m.scenarioId);
          if (s.holdUntil && new Date(s.holdUntil).getTime() > Date.now()) return false;
        }
        return true;
      },
      10000,
    );
    await m1.production.agent!.kill();
    await c.waitDns(m1.replica.address, 30000, m1.record);
    const auto = (await c.api('GET', '/api/v1/operations?trigger=auto')).body.items;
    expect(auto).toEqual([
      expect.objectContaining({ scenarioId: m1.scenarioId, type: 'failover', groupId: null }),
    ]);
    expect((await c.waitOperation(auto[0].id)).state).toBe('succeeded');
    // Give the detector time to (wrongly) act on member 2.
    await new Promise((r) => setTimeout(r, 2000));
    expect((await c.api('GET', '/api/v1/operations?trigger=auto')).body.total).toBe(1);
    expect(await c.scenario(m2.scenarioId)).toMatchObject({
      state: 'running',
      activeNodeId: m2.production.id,
    });
    expect(await dnsOf(m2)).toEqual([m2.production.address]);
  });
});
