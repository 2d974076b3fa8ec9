/** Idempotency-Key on POST: replay, misuse (422), concurrency (one execution), expiry, 5xx not stored. */
import { IdempotencyService } from '../../apps/orchestrator/src/common/idempotency.service';
import { http, InProcessOrchestrator } from '../support/orchestrator';
import { count, createToken, rows, snapshot, startApi } from './api-helpers';

describe('Idempotency-Key', () => {
  let o: InProcessOrchestrator;
  beforeAll(async () => {
    o = await startApi('idempotency');
  });
  afterAll(async () => {
    await o?.close();
  });

  const post = (path: string, key: string | undefined, body?: unknown, token = o.adminToken) =>
    http(o.url, 'POST', path, {
      token,
      body,
      headers: key === undefined ? undefined : { 'idempotency-key': key },
    });

  it('a replay with the same key and body returns the same status and body, and changes nothing', async () => {
    const body = { name: 'idem-a', description: 'first', switchAllIfAnyFails: true };
    const first = await post('/api/v1/groups', 'create-group-a', body);
    expect(first.status).toBe(201);
    expect(first.headers.get('idempotent-replayed')).toBeNull();
    const before = await snapshot(o);

    // Same body with another key order is the same request.
    const replay = await post('/api/v1/groups', 'create-group-a', {
      switchAllIfAnyFails: true,
      description: 'first',
      name: 'idem-a',
    });
    expect(replay.status).toBe(201);
    expect(replay.headers.get('idempotent-replayed')).toBe('true');
    expect(replay.body).toEqual(first.body);
    expect(await count(o, 'groups', `WHERE name = 'idem-a'`)).toBe(1);
    expect(await snapshot(o)).toEqual(before);

    const [row] = await rows(o, `SELECT * FROM idempotency_keys WHERE key = 'create-group-a'`);
    expect(row).toMatchObject({
      actor: 'bootstrap-admin',
      method: 'POST',
      path: '/api/v1/groups',
      statusCode: 201,
    });
    expect(row.responseBody).toEqual(first.body);
  });

  it('the same key with another body or another path is a 422 and runs nothing', async () => {
    expect((await post('/api/v1/groups', 'reuse-me', { name: 'idem-b' })).status).toBe(201);
    const before = await snapshot(o);
    const otherBody = await post('/api/v1/groups', 'reuse-me', { name: 'idem-b2' });
    expect(otherBody.status).toBe(422);
    expect(otherBody.body).toMatchObject({
      error: 'idempotency_key_reused',
      details: { field: 'Idempotency-Key' },
    });
    const otherPath = await post('/api/v1/tokens', 'reuse-me', { name: 'idem-b', role: 'viewer' });
    expect(otherPath.status).toBe(422);
    expect(await snapshot(o)).toEqual(before);
    expect(await count(o, 'groups', `WHERE name = 'idem-b2'`)).toBe(0);
    expect(await count(o, 'api_tokens', `WHERE name = 'idem-b'`)).toBe(0);
  });

  it('keys belong to one actor: another token may use the same key for its own request', async () => {
    const other = await createToken(o, 'idem-other-admin', 'admin');
    expect((await post('/api/v1/groups', 'shared-key', { name: 'idem-c1' })).status).toBe(201);
    const mine = await post('/api/v1/groups', 'shared-key', { name: 'idem-c2' }, other.token);
    expect(mine.status).toBe(201);
    expect(mine.headers.get('idempotent-replayed')).toBeNull();
    expect(await count(o, 'groups', `WHERE name IN ('idem-c1', 'idem-c2')`)).toBe(2);
    expect(await count(o, 'idempotency_keys', `WHERE key = 'shared-key'`)).toBe(2);
  });

  it('concurrent duplicates: exactly one executes, the others get 409 in progress or the replay', async () => {
    const body = { name: 'idem-race', description: 'x' };
    const results = await Promise.all(
      Array.from({ length: 8 }, () => post('/api/v1/groups', 'race-key', body)),
    );
    const executed = results.filter((r) => r.status === 201 && r.headers.get('idempotent-replayed') === null);
    expect(executed).toHaveLength(1);
    for (const r of results) {
      if (r.status === 409) {
        expect(r.body).toMatchObject({
          error: 'idempotency_key_in_progress',
          message: /request with this key in progress/,
        });
      } else {
        expect(r.status).toBe(201);
        expect(r.body).toEqual(executed[0].body);
      }
    }
    expect(await count(o, 'groups', `WHERE name = 'idem-race'`)).toBe(1);
    expect(
      await count(o, 'audit_log', `WHERE action = 'group.create' AND "targetId" = $1`, [executed[0].body.id]),
    ).toBe(1);
    // Afterwards every duplicate is a replay.
    const late = await post('/api/v1/groups', 'race-key', body);
    expect([late.status, late.headers.get('idempotent-replayed')]).toEqual([201, 'true']);
  });

  it('a 4xx is stored and replayed too; the same key does not run a corrected body', async () => {
    const bad = await post('/api/v1/groups', 'bad-body', { name: 'Not Valid' });
    expect(bad.status).toBe(400);
    const replay = await post('/api/v1/groups', 'bad-body', { name: 'Not Valid' });
    expect(replay.status).toBe(400);
    expect(replay.headers.get('idempotent-replayed')).toBe('true');
    expect(replay.body).toEqual(bad.body);
    expect((await post('/api/v1/groups', 'bad-body', { name: 'now-valid' })).status).toBe(422);

    // A conflict (409 duplicate name) is a final answer as well.
    const dup = await post('/api/v1/groups', 'dup-name', { name: 'idem-a' });
    expect(dup.status).toBe(409);
    const dupReplay = await post('/api/v1/groups', 'dup-name', { name: 'idem-a' });
    expect([dupReplay.status, dupReplay.headers.get('idempotent-replayed')]).toEqual([409, 'true']);
  });

  it('a 5xx is not stored: the same key runs again once the fault is gone', async () => {
    // A real fault: the table the request writes to is missing for a moment.
    await rows(o, 'ALTER TABLE groups RENAME TO groups_away');
    let failed;
    try {
      failed = await post('/api/v1/groups', 'after-outage', { name: 'idem-outage' });
    } finally {
      await rows(o, 'ALTER TABLE groups_away RENAME TO groups');
    }
    expect(failed.status).toBe(500);
    expect(failed.body).toMatchObject({ error: 'internal_error' });
    expect(JSON.stringify(failed.body)).not.toMatch(/groups|relation|QueryFailed/);
    expect(await count(o, 'idempotency_keys', `WHERE key = 'after-outage'`)).toBe(0);

    const retry = await post('/api/v1/groups', 'after-outage', { name: 'idem-outage' });
    expect(retry.status).toBe(201);
    expect(retry.headers.get('idempotent-replayed')).toBeNull();
    expect(await count(o, 'groups', `WHERE name = 'idem-outage'`)).toBe(1);
  });

  it('secrets shown once are not stored; their replay has them as null', async () => {
    const first = await post('/api/v1/tokens', 'token-key', { name: 'idem-secret', role: 'viewer' });
    expect(first.status).toBe(201);
    expect(first.body.token).toMatch(/^hat_/);
    const replay = await post('/api/v1/tokens', 'token-key', { name: 'idem-secret', role: 'viewer' });
    expect(replay.status).toBe(201);
    expect(replay.body).toEqual({ ...first.body, token: null });
    expect(await count(o, 'api_tokens', `WHERE name = 'idem-secret'`)).toBe(1);

    const node = await post('/api/v1/nodes', 'node-key', {
      name: 'idem-node',
      address: '127.0.0.88',
      agentUrl: 'http://127.0.0.88:7400',
    });
    expect(node.status).toBe(201);
    const stored = await rows(o, `SELECT "responseBody"::text AS body FROM idempotency_keys`);
    for (const r of stored) {
      expect(r.body).not.toContain(first.body.token);
      expect(r.body).not.toContain(node.body.agentToken);
      expect(r.body).not.toContain(node.body.actionToken);
    }
    const nodeReplay = await post('/api/v1/nodes', 'node-key', {
      name: 'idem-node',
      address: '127.0.0.88',
      agentUrl: 'http://127.0.0.88:7400',
    });
    expect(nodeReplay.body).toEqual({ node: node.body.node, agentToken: null, actionToken: null });
  });

  it.each([
    ['too long', 'k'.repeat(129)],
    ['a space', 'two words'],
    ['a slash', 'a/b'],
    ['non-ASCII', 'clé'],
  ])('a key with %s is a 400 and runs nothing', async (_label, key) => {
    const before = await snapshot(o);
    const r = await http(o.url, 'POST', '/api/v1/groups', {
      token: o.adminToken,
      body: { name: 'idem-badkey' },
      headers: { 'idempotency-key': encodeURI(key) === key ? key : Buffer.from(key).toString('latin1') },
    });
    expect(r.status).toBe(400);
    expect(r.body.details).toEqual({ field: 'Idempotency-Key' });
    expect(await snapshot(o)).toEqual(before);
  });

  it('accepts every allowed character and the 128-character maximum', async () => {
    const key = `Az09_.:-${'x'.repeat(120)}`;
    expect(key).toHaveLength(128);
    expect((await post('/api/v1/groups', key, { name: 'idem-longkey' })).status).toBe(201);
    expect(
      (await post('/api/v1/groups', key, { name: 'idem-longkey' })).headers.get('idempotent-replayed'),
    ).toBe('true');
  });

  it('a key older than 24 h is ignored, and cleanup deletes it', async () => {
    expect((await post('/api/v1/groups', 'old-key', { name: 'idem-old' })).status).toBe(201);
    await rows(
      o,
      `UPDATE idempotency_keys SET "createdAt" = now() - interval '25 hours' WHERE key = 'old-key'`,
    );
    const fresh = await post('/api/v1/groups', 'old-key', { name: 'idem-new' });
    expect(fresh.status).toBe(201);
    expect(fresh.headers.get('idempotent-replayed')).toBeNull();
    expect(await count(o, 'groups', `WHERE name IN ('idem-old', 'idem-new')`)).toBe(2);

    await rows(
      o,
      `UPDATE idempotency_keys SET "createdAt" = now() - interval '25 hours' WHERE key = 'old-key'`,
    );
    const total = await count(o, 'idempotency_keys');
    expect(await o.app.get(IdempotencyService).cleanup()).toBe(1);
    expect(await count(o, 'idempotency_keys')).toBe(total - 1);
  });

  it('only POST is affected: other methods ignore the header', async () => {
    const g = await post('/api/v1/groups', undefined, { name: 'idem-patch' });
    const h = { 'idempotency-key': 'patch-key' };
    const p1 = await http(o.url, 'PATCH', `/api/v1/groups/${g.body.id}`, {
      token: o.adminToken,
      body: { description: '1' },
      headers: h,
    });
    const p2 = await http(o.url, 'PATCH', `/api/v1/groups/${g.body.id}`, {
      token: o.adminToken,
      body: { description: '2' },
      headers: h,
    });
    expect([p1.status, p2.status]).toEqual([200, 200]);
    expect(p2.headers.get('idempotent-replayed')).toBeNull();
    expect(p2.body.description).toBe('2');
    expect(await count(o, 'idempotency_keys', `WHERE key = 'patch-key'`)).toBe(0);
  });

  it('without the header nothing is stored', async () => {
    const before = await count(o, 'idempotency_keys');
    expect((await post('/api/v1/groups', undefined, { name: 'idem-nokey' })).status).toBe(201);
    expect((await post('/api/v1/groups', undefined, { name: 'idem-nokey' })).status).toBe(409);
    expect(await count(o, 'idempotency_keys')).toBe(before);
  });
});
