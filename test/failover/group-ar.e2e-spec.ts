/**
 * Group Assured Recovery runs and AR reports, end to end: three member scenarios in one group,
 * real agents with ar-* actions on 127.0.9.21–26 (port 17560), DNS 15560, PostgreSQL, Redis.
 * Member 1's replica passes, member 2's fails its ar-check, member 3 is stopped (refused). With
 * maxParallel 1 the tests never overlap; the run ends with one report and one critical
 * `ar-group-result` event; the failed member's own result is critical too; the CSV export lists
 * both tests with their steps.
 */
import { randomUUID } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createToken } from '../api/api-helpers';
import { Cluster } from '../support/cluster';
import { http, waitFor } from '../support/orchestrator';

describe('group AR runs and AR reports (real agents, PostgreSQL, Redis, DNS)', () => {
  const c = new Cluster({
    label: 'groupar',
    addressPrefix: '127.0.9.2',
    agentPort: 17560,
    dnsPort: 15560,
    failoverMode: 'manual',
    arActions: true,
    group: { members: 3 },
  });

  beforeAll(async () => {
    await c.start();
  });
  afterAll(async () => {
    await c.close();
  });

  const start = (body: Record<string, unknown>, id = c.groupId) =>
    c.api('POST', `/api/v1/groups/${id}/ar-test`, body);
  const run = async (runId: string) =>
    (await c.api('GET', `/api/v1/groups/${c.groupId}/ar-runs/${runId}`)).body;

  it('bad input: 400 naming the field, 403, 404, empty group 409; nothing starts', async () => {
    const before = (await c.api('GET', '/api/v1/operations?limit=1')).body.total;
    for (const [body, field] of [
      [{}, /reason/],
      [{ reason: 'x', maxParallel: 0 }, /maxParallel/],
      [{ reason: 'x', maxParallel: 51 }, /maxParallel/],
      [{ reason: 'x', maxParallel: 'two' }, /maxParallel/],
      [{ reason: 'x', snapshot: 'yes' }, /snapshot/],
    ] as const) {
      const r = await start(body as Record<string, unknown>);
      expect([r.status, r.body.message]).toEqual([400, expect.stringMatching(field)]);
    }
    expect((await start({ reason: 'x' }, randomUUID())).status).toBe(404);
    expect((await start({ reason: 'x' }, 'nope')).status).toBe(400);
    const empty = await c.api('POST', '/api/v1/groups', { name: 'groupar-empty' });
    const none = await start({ reason: 'x' }, empty.body.id);
    expect([none.status, none.body.message]).toEqual([409, expect.stringMatching(/no member/)]);
    const viewer = await createToken(c.o, 'groupar-viewer', 'viewer');
    const forbidden = await http(c.o.url, 'POST', `/api/v1/groups/${c.groupId}/ar-test`, {
      token: viewer.token,
      body: { reason: 'viewers cannot test' },
    });
    expect(forbidden.status).toBe(403);
    expect((await c.api('GET', `/api/v1/groups/${c.groupId}/ar-runs/${randomUUID()}`)).status).toBe(404);
    expect((await c.api('GET', `/api/v1/groups/${randomUUID()}/ar-runs`)).status).toBe(404);
    expect((await c.api('GET', `/api/v1/groups/${c.groupId}/ar-results?limit=0`)).status).toBe(400);
    expect((await c.api('GET', '/api/v1/operations?limit=1')).body.total).toBe(before);
  });

  it('one member at a time: passed, failed and refused in one report; one critical group event', async () => {
    const [m1, m2, m3] = c.members;
    writeFileSync(join(m1.replica.dir, 'ar-check.sleep'), '1');
    writeFileSync(join(m2.replica.dir, 'ar-check.exit'), '2');
    const stopped = await c.api('POST', `/api/v1/scenarios/${m3.scenarioId}/stop`, { reason: 'not tested' });
    expect(stopped.status).toBe(202);
    await c.waitOperation(stopped.body.id);

    const r = await start({ reason: 'quarterly drill', maxParallel: 1 });
    expect(r.status).toBe(202);
    expect(r.body).toMatchObject({ state: 'running', maxParallel: 1, group: 'groupar-group' });
    expect(r.body.members.map((m: any) => [m.name, m.state])).toEqual([
      ['member1', 'started'],
      ['member2', 'pending'],
      ['member3', 'pending'],
    ]);
    // One run at a time per group.
    const again = await start({ reason: 'twice' });
    expect([again.status, again.body.message]).toEqual([409, expect.stringMatching(/already running/)]);

    const done = await waitFor(
      'the group AR run to end',
      async () => {
        const v = await run(r.body.id);
        return v.state === 'done' && v;
      },
      60000,
    );
    expect(done.summary).toEqual({ passed: 1, failed: 1, aborted: 0, refused: 1, error: 0 });
    const [one, two, three] = done.members;
    expect(one).toMatchObject({ name: 'member1', state: 'finished', arResult: 'passed', error: null });
    expect(two).toMatchObject({ name: 'member2', state: 'finished', arResult: 'failed' });
    expect(three).toMatchObject({ name: 'member3', state: 'refused', operationId: null });
    expect(three.error).toMatch(/stopped/);
    // Never two at once: member 2's test started after member 1's ended.
    expect(new Date(two.result.startedAt).getTime()).toBeGreaterThanOrEqual(
      new Date(one.result.finishedAt).getTime(),
    );
    expect(one.result.steps.map((s: any) => s.name)).toEqual(
      expect.arrayContaining(['ar-suspend', 'ar-start', 'ar-check', 'ar-rewind', 'ar-resume']),
    );
    expect(one.result.durationMs).toBeGreaterThanOrEqual(1000);

    const events = (await c.api('GET', '/api/v1/events?kind=ar-group-result')).body.items;
    expect(events).toHaveLength(1);
    expect(events[0]).toMatchObject({
      severity: 'critical',
      details: { runId: r.body.id, groupId: c.groupId },
    });
    expect(events[0].message).toBe('AR run of group groupar-group: 1 passed, 1 failed, 1 refused (of 3)');
    const own = (await c.api('GET', `/api/v1/events?kind=ar-test-result&scenarioId=${m2.scenarioId}`)).body
      .items;
    expect(own[0]).toMatchObject({ severity: 'critical' });

    const listed = (await c.api('GET', `/api/v1/groups/${c.groupId}/ar-runs`)).body;
    expect(listed).toMatchObject({
      total: 1,
      items: [expect.objectContaining({ id: r.body.id, state: 'done' })],
    });
    const history = (await c.api('GET', `/api/v1/groups/${c.groupId}/ar-results`)).body;
    expect(history.map((h: any) => [h.scenarioId, h.arResult])).toEqual([
      [m2.scenarioId, 'failed'],
      [m1.scenarioId, 'passed'],
    ]);
    // Every member back where it was: running ones running, production untouched.
    for (const m of [m1, m2]) {
      expect(await c.scenario(m.scenarioId)).toMatchObject({
        state: 'running',
        activeNodeId: m.production.id,
      });
      expect(await c.dnsAnswer(c.opts.dnsPort, m.record)).toEqual([m.production.address]);
    }
  });

  it('AR CSV export: the group filter, a header and one row per test with its steps; bad filters are 4xx', async () => {
    const [m1, m2] = c.members;
    const csv = await http(c.o.url, 'GET', `/api/v1/reports/ar.csv?groupId=${c.groupId}`, { token: c.token });
    expect(csv.status).toBe(200);
    expect(csv.headers.get('content-type')).toMatch(/text\/csv/);
    const lines = String(csv.body).trim().split('\r\n');
    expect(lines[0]).toBe(
      'operationId,scenarioId,scenario,createdAt,startedAt,finishedAt,durationMs,trigger,requestedBy,targetNodeId,targetNode,state,arResult,failure,reason,steps',
    );
    expect(lines).toHaveLength(3);
    const row = (scenarioId: string) => lines.find((l) => l.includes(scenarioId))!;
    expect(row(m1.scenarioId)).toMatch(/,member1,.*,m1-replica,succeeded,passed,,/);
    expect(row(m2.scenarioId)).toMatch(/,member2,.*,failed,/);
    expect(row(m1.scenarioId)).toMatch(/ar-suspend:done:\d+;ar-start:done:\d+;ar-check:done:\d+/);
    const one = await http(c.o.url, 'GET', `/api/v1/reports/ar.csv?scenarioId=${m1.scenarioId}`, {
      token: c.token,
    });
    expect(String(one.body).trim().split('\r\n')).toHaveLength(2);
    const future = await http(
      c.o.url,
      'GET',
      `/api/v1/reports/ar.csv?since=2999-01-01T00:00:00Z&until=3000-01-01T00:00:00Z`,
      {
        token: c.token,
      },
    );
    expect(String(future.body).trim().split('\r\n')).toHaveLength(1);
    for (const [q, status] of [
      [`scenarioId=${m1.scenarioId}&groupId=${c.groupId}`, 400],
      [`groupId=${randomUUID()}`, 404],
      [`scenarioId=${randomUUID()}`, 404],
      ['groupId=nope', 400],
      ['since=2026-12-02T00:00:00Z&until=2026-12-01T00:00:00Z', 400],
    ] as const) {
      expect((await http(c.o.url, 'GET', `/api/v1/reports/ar.csv?${q}`, { token: c.token })).status).toBe(
        status,
      );
    }
  });
});
