/**
 * Group split state and its recovery, end to end: three member scenarios (each its own production
 * and replica agent, DNS name) in one group, real agents on 127.0.8.11–16 (port 17480), DNS 15480,
 * PostgreSQL, Redis, and a webhook receiver on 127.0.0.1 (ephemeral port) subscribed to the group.
 *
 * A split is made on purpose (one member failed over by hand), seen once (one `group-split` event
 * and webhook, however long it lasts), then resolved to each side in turn with a group
 * active-server recovery: every member on the kept side, new epochs, DNS answers the kept nodes,
 * and `group-consistent` announced once.
 */
import { createServer, Server } from 'node:http';
import { AddressInfo } from 'node:net';
import { randomUUID } from 'node:crypto';
import { createToken } from '../api/api-helpers';
import { Cluster, ClusterMember } from '../support/cluster';
import { http, waitFor } from '../support/orchestrator';

describe('group split detection and recovery (real agents, PostgreSQL, Redis, DNS)', () => {
  const c = new Cluster({
    label: 'groupsplit',
    addressPrefix: '127.0.8.1',
    agentPort: 17480,
    dnsPort: 15480,
    failoverMode: 'manual',
    group: { members: 3, switchAllIfAnyFails: false },
  });
  let server: Server;
  const hits: any[] = [];

  beforeAll(async () => {
    server = createServer((req, res) => {
      let raw = '';
      req.on('data', (d) => (raw += d));
      req.on('end', () => {
        hits.push(JSON.parse(raw));
        res.writeHead(204).end();
      });
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    await c.start();
    const sub = await c.api('POST', '/api/v1/webhooks', {
      name: 'group-split-receiver',
      url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/hook`,
      kinds: ['group-split', 'group-consistent'],
      groupId: c.groupId,
    });
    expect(sub.status).toBe(201);
  });
  afterAll(async () => {
    await c.close();
    server.closeAllConnections();
    await new Promise((r) => server.close(r));
  });

  const status = async () => {
    const r = await c.api('GET', `/api/v1/groups/${c.groupId}/status`);
    expect(r.status).toBe(200);
    return r.body;
  };
  const events = async (kind: string) =>
    (await c.api('GET', `/api/v1/events?kind=${kind}&limit=50`)).body.items.filter(
      (e: any) => e.details.groupId === c.groupId,
    ) as any[];
  const recover = (body: Record<string, unknown>, id = c.groupId) =>
    c.api('POST', `/api/v1/groups/${id}/active-server-recovery`, body);
  const operationCount = async () => (await c.api('GET', '/api/v1/operations?limit=1')).body.total as number;
  const dnsOf = (m: ClusterMember) => c.dnsAnswer(c.opts.dnsPort, m.record);
  async function allSucceeded(body: any): Promise<any[]> {
    const ops = [];
    for (const o of body.operations) {
      const op = await c.waitOperation(o.id);
      expect(op).toMatchObject({ state: 'succeeded', type: 'active-server-recovery', groupId: c.groupId });
      ops.push(op);
    }
    return ops;
  }

  it('a consistent group: every member on production, nothing announced', async () => {
    const s = await status();
    expect(s).toMatchObject({ groupId: c.groupId, consistency: 'consistent', side: 'production' });
    expect(s.members).toHaveLength(3);
    for (const m of s.members)
      expect(m).toMatchObject({ state: 'running', side: 'production', operationId: null });
    expect((await c.api('GET', `/api/v1/groups/${randomUUID()}/status`)).status).toBe(404);
    expect((await c.api('GET', `/api/v1/groups/not-a-uuid/status`)).status).toBe(400);
    expect(await events('group-split')).toEqual([]);
    // The group's explicit switch-all option for manual-mode members: default true, typed.
    expect((await c.api('GET', `/api/v1/groups/${c.groupId}`)).body.switchManualMembers).toBe(true);
    const bad = await c.api('PATCH', `/api/v1/groups/${c.groupId}`, { switchManualMembers: 'no' });
    expect([bad.status, bad.body.message]).toEqual([400, expect.stringMatching(/switchManualMembers/)]);
    const off = await c.api('PATCH', `/api/v1/groups/${c.groupId}`, { switchManualMembers: false });
    expect([off.status, off.body.switchManualMembers]).toEqual([200, false]);
  });

  it('bad recovery requests get a 400/403/404 naming the problem; nothing starts', async () => {
    const before = await operationCount();
    const [m1, m2] = c.members;
    const cases: [Record<string, unknown>, RegExp][] = [
      [{ reason: 'x' }, /^keep: /],
      [{ reason: 'x', keep: 'both' }, /keep/],
      [{ keep: 'production' }, /reason/],
      [{ reason: 'x', keep: 'production', confirmFenced: true }, /confirmFenced needs force/],
      [
        { reason: 'x', members: [{ scenarioId: randomUUID(), activeNodeId: m1.production.id }] },
        /members\[0\]\.scenarioId: .* not a member/,
      ],
      [
        {
          reason: 'x',
          keep: 'replica',
          members: [{ scenarioId: m1.scenarioId, activeNodeId: m2.production.id }],
        },
        /members\[0\]\.activeNodeId: .* not a node of scenario member1/,
      ],
      [
        {
          reason: 'x',
          keep: 'replica',
          members: [
            { scenarioId: m1.scenarioId, activeNodeId: m1.replica.id },
            { scenarioId: m1.scenarioId, activeNodeId: m1.production.id },
          ],
        },
        /named twice/,
      ],
      [
        { reason: 'x', members: [{ scenarioId: 'nope', activeNodeId: m1.production.id }] },
        /scenarioId must be a UUID/,
      ],
      [{ reason: 'x', members: 'all' }, /members/],
    ];
    for (const [body, message] of cases) {
      const r = await recover(body);
      expect([r.status, r.body.message]).toEqual([400, expect.stringMatching(message)]);
    }
    expect((await recover({ reason: 'x', keep: 'production' }, randomUUID())).status).toBe(404);
    const viewer = await createToken(c.o, 'groupsplit-viewer', 'viewer');
    const forbidden = await http(c.o.url, 'POST', `/api/v1/groups/${c.groupId}/active-server-recovery`, {
      token: viewer.token,
      body: { reason: 'viewers cannot act', keep: 'production' },
    });
    expect(forbidden.status).toBe(403);
    expect(await operationCount()).toBe(before);
  });

  it('one member failed over by hand: the group is split, announced once however long it lasts', async () => {
    const [m1, m2, m3] = c.members;
    const fo = await c.api('POST', `/api/v1/scenarios/${m1.scenarioId}/failover`, { reason: 'make a split' });
    expect(fo.status).toBe(202);
    expect(await c.waitOperation(fo.body.id)).toMatchObject({ state: 'succeeded' });
    const split = await waitFor('group-split event', async () => (await events('group-split'))[0], 20000);
    expect(split).toMatchObject({ severity: 'critical', scenarioId: null });
    expect(split.message).toMatch(
      /group groupsplit-group is split: active on production: member2, member3; active on a replica: member1/,
    );
    const s = await status();
    expect(s.consistency).toBe('split');
    expect(s.splitAnnouncedAt).not.toBeNull();
    expect(s.members.map((m: any) => [m.name, m.side])).toEqual([
      ['member1', 'replica'],
      ['member2', 'production'],
      ['member3', 'production'],
    ]);
    expect(await dnsOf(m1)).toEqual([m1.replica.address]);
    expect(await dnsOf(m2)).toEqual([m2.production.address]);
    expect(await dnsOf(m3)).toEqual([m3.production.address]);
    // Still split 4 s later: still one event, one webhook.
    await new Promise((r) => setTimeout(r, 4000));
    expect(await events('group-split')).toHaveLength(1);
    const hook = await waitFor(
      'group-split webhook',
      async () => hits.find((h) => h.kind === 'group-split'),
      15000,
    );
    expect(hook.details).toMatchObject({ groupId: c.groupId, group: 'groupsplit-group' });
    expect(hits.filter((h) => h.kind === 'group-split')).toHaveLength(1);
    const metrics = await http(c.o.url, 'GET', '/metrics');
    expect(metrics.body).toMatch(/^ha_groups_split 1$/m);
  });

  it('recovery keeping production: every member on its production node, new epochs, DNS aligned, consistent announced once', async () => {
    const epochs = new Map<string, number>();
    for (const m of c.members) epochs.set(m.scenarioId, (await c.scenario(m.scenarioId)).epoch);
    const plan = await recover({ reason: 'INC-9: keep Paris', keep: 'production', dryRun: true });
    expect(plan.status).toBe(200);
    expect(plan.body).toMatchObject({ dryRun: true, type: 'active-server-recovery', wouldRun: true });
    const r = await recover({ reason: 'INC-9: keep Paris', keep: 'production' });
    expect(r.status).toBe(202);
    expect(r.body.refused).toEqual([]);
    expect(r.body.operations).toHaveLength(3);
    await allSucceeded(r.body);
    for (const m of c.members) {
      const s = await c.scenario(m.scenarioId);
      expect(s).toMatchObject({ state: 'running', activeNodeId: m.production.id });
      expect(s.epoch).toBeGreaterThan(epochs.get(m.scenarioId)!);
      expect(await dnsOf(m)).toEqual([m.production.address]);
    }
    const back = await waitFor(
      'group-consistent event',
      async () => (await events('group-consistent'))[0],
      20000,
    );
    expect(back.message).toMatch(
      /group groupsplit-group is consistent again: every protected member is active on the production side/,
    );
    expect(await status()).toMatchObject({
      consistency: 'consistent',
      side: 'production',
      splitAnnouncedAt: null,
    });
    await new Promise((r) => setTimeout(r, 2000));
    expect(await events('group-consistent')).toHaveLength(1);
    const audit = await c.api(
      'GET',
      `/api/v1/audit?targetId=${c.groupId}&action=group.active-server-recovery.requested`,
    );
    expect(audit.body.items[0].details).toMatchObject({ keep: 'production' });
  });

  it('a second split, resolved to the replica side: a new announcement, every member on its replica', async () => {
    const m2 = c.members[1];
    const fo = await c.api('POST', `/api/v1/scenarios/${m2.scenarioId}/failover`, { reason: 'second split' });
    expect(fo.status).toBe(202);
    expect(await c.waitOperation(fo.body.id)).toMatchObject({ state: 'succeeded' });
    await waitFor('second group-split event', async () => (await events('group-split')).length === 2, 20000);
    expect((await status()).consistency).toBe('split');

    const r = await recover({ reason: 'INC-10: keep Lyon', keep: 'replica' });
    expect(r.status).toBe(202);
    await allSucceeded(r.body);
    for (const m of c.members) {
      expect(await c.scenario(m.scenarioId)).toMatchObject({ activeNodeId: m.replica.id });
      expect(await dnsOf(m)).toEqual([m.replica.address]);
    }
    await waitFor(
      'second group-consistent event',
      async () => (await events('group-consistent')).length === 2,
      20000,
    );
    expect(await status()).toMatchObject({ consistency: 'consistent', side: 'replica' });
    expect(hits.map((h) => h.kind)).toEqual([
      'group-split',
      'group-consistent',
      'group-split',
      'group-consistent',
    ]);
  });
});
