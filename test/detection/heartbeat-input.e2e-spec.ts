/**
 * POST /api/v1/heartbeats with bad bodies and wrong tokens, over plain HTTP against an in-process
 * orchestrator: each is refused with the right status and leaves the node's state as it was, in
 * memory (GET /nodes/{id}/health) and in PostgreSQL (node_status). No agents needed.
 */
import { randomUUID } from 'node:crypto';
import { Client } from 'pg';
import {
  http,
  InProcessOrchestrator,
  startOrchestrator,
  TEST_DATABASE_URL,
  waitFor,
} from '../support/orchestrator';

describe('heartbeat input: validation and authorization', () => {
  let o: InProcessOrchestrator;
  let db: Client;
  const a = { id: '', agentToken: '' };
  const b = { id: '', agentToken: '' };
  const bootId = `boot-${randomUUID()}`;
  let lastGoodSeq = 0;

  const heartbeat = (seq: number, extra: Record<string, unknown> = {}) => ({
    nodeId: a.id,
    seq,
    bootId,
    agentTime: Date.now(),
    scenarios: [],
    checks: [{ name: 'app', status: 'ok', output: 'fine', durationMs: 3, at: Date.now() }],
    peerViews: [{ nodeId: b.id, lastSeenMsAgo: 100, reachable: true }],
    ...extra,
  });
  const post = (body: unknown, token = a.agentToken, rawBody?: string) =>
    http(o.url, 'POST', '/api/v1/heartbeats', {
      token,
      body,
      rawBody,
      headers: rawBody !== undefined ? { 'content-type': 'application/json' } : {},
    });
  const live = async () =>
    (await http(o.url, 'GET', `/api/v1/nodes/${a.id}/health`, { token: o.adminToken })).body;
  const row = async () =>
    (
      await db.query(
        `SELECT "lastSeq", "bootId", report FROM "${o.schema}".node_status WHERE "nodeId" = $1`,
        [a.id],
      )
    ).rows[0] as { lastSeq: string; bootId: string; report: { checks: { output: string }[] } } | undefined;

  /** The node's state is exactly what the last accepted heartbeat left, in memory and in PostgreSQL. */
  async function expectUnchanged(): Promise<void> {
    const h = await live();
    expect(h.heartbeat).toMatchObject({ seq: lastGoodSeq, bootId });
    await new Promise((r) => setTimeout(r, 300)); // two flush periods
    expect(await row()).toMatchObject({ lastSeq: String(lastGoodSeq), bootId });
  }

  beforeAll(async () => {
    o = await startOrchestrator('dethbinput', { HEARTBEAT_FLUSH_MS: '100', DETECTOR_TICK_MS: '100' });
    db = new Client({ connectionString: TEST_DATABASE_URL });
    await db.connect();
    for (const [n, name, address] of [
      [a, 'hbin-a', '127.0.0.83'],
      [b, 'hbin-b', '127.0.0.84'],
    ] as const) {
      const r = await http(o.url, 'POST', '/api/v1/nodes', {
        token: o.adminToken,
        body: { name, address, agentUrl: `http://${address}:17812` },
      });
      expect(r.status).toBe(201);
      n.id = r.body.node.id;
      n.agentToken = r.body.agentToken;
    }
  });
  afterAll(async () => {
    await db?.end();
    await o?.close();
  });

  it('a valid heartbeat is accepted and persisted', async () => {
    const r = await post(heartbeat(5));
    expect(r.status).toBe(200);
    expect(r.body).toMatchObject({ nodeId: a.id, scenarios: [] });
    lastGoodSeq = 5;
    await waitFor('node_status flushed', async () => (await row())?.lastSeq === '5');
    await expectUnchanged();
  });

  const bad: [string, () => unknown, RegExp][] = [
    ['seq as a string', () => heartbeat(6, { seq: '6' }), /seq/],
    ['negative seq', () => heartbeat(-1), /seq/],
    ['fractional seq', () => heartbeat(6.5), /seq/],
    ['seq beyond 2^53 (would break the bigint column)', () => heartbeat(1e20), /seq/],
    ['missing bootId', () => ({ ...heartbeat(6), bootId: undefined }), /bootId/],
    ['bootId too long', () => heartbeat(6, { bootId: 'x'.repeat(65) }), /bootId/],
    ['missing peerViews', () => ({ ...heartbeat(6), peerViews: undefined }), /peerViews/],
    ['peerViews not an array', () => heartbeat(6, { peerViews: 'all good' }), /peerViews/],
    [
      'peer view reachable as a string',
      () => heartbeat(6, { peerViews: [{ nodeId: randomUUID(), lastSeenMsAgo: 1, reachable: 'yes' }] }),
      /peerViews\[0\]\.reachable/,
    ],
    [
      'peer view nodeId not a UUID',
      () => heartbeat(6, { peerViews: [{ nodeId: 'replica-1', lastSeenMsAgo: 1, reachable: true }] }),
      /peerViews\[0\]\.nodeId/,
    ],
    [
      'unknown check status',
      () => heartbeat(6, { checks: [{ name: 'app', status: 'dead', durationMs: 1, at: 1 }] }),
      /checks\[0\]\.status/,
    ],
    [
      'negative epoch',
      () => heartbeat(6, { scenarios: [{ scenarioId: randomUUID(), role: 'production', epoch: -1 }] }),
      /scenarios\[0\]\.epoch/,
    ],
    [
      'epoch beyond a PostgreSQL integer (2^31)',
      () => heartbeat(6, { scenarios: [{ scenarioId: randomUUID(), role: 'production', epoch: 2 ** 31 }] }),
      /scenarios\[0\]\.epoch/,
    ],
    [
      'epoch 1e300',
      () => heartbeat(6, { scenarios: [{ scenarioId: randomUUID(), role: 'production', epoch: 1e300 }] }),
      /scenarios\[0\]\.epoch/,
    ],
    [
      'unknown role',
      () => heartbeat(6, { scenarios: [{ scenarioId: randomUUID(), role: 'king', epoch: 1 }] }),
      /role/,
    ],
    ['unknown top-level field', () => heartbeat(6, { command: 'rm -rf /' }), /command/],
    [
      'unknown nested field',
      () => heartbeat(6, { checks: [{ name: 'app', status: 'ok', durationMs: 1, at: 1, shell: 'x' }] }),
      /shell/,
    ],
    [
      'too many checks',
      () =>
        heartbeat(6, {
          checks: Array.from({ length: 257 }, () => ({ name: 'c', status: 'ok', durationMs: 1, at: 1 })),
        }),
      /checks/,
    ],
    ['nodeId not a UUID', () => heartbeat(6, { nodeId: 'node-a' }), /nodeId/],
  ];

  it.each(bad)('%s → 400 naming the field, nothing changes', async (_what, body, field) => {
    const r = await post(body());
    expect(r.status).toBe(400);
    expect(JSON.stringify(r.body)).toMatch(field);
    await expectUnchanged();
  });

  describe('epochs are issued by the orchestrator only', () => {
    let scenarioId = '';
    beforeAll(async () => {
      const r = await http(o.url, 'POST', '/api/v1/scenarios', {
        token: o.adminToken,
        body: {
          name: 'hbin-epochs',
          productionNodeId: a.id,
          replicaNodeIds: [b.id],
          dnsRecords: [{ zone: 'hbin.test', name: 'app.hbin.test', type: 'A', ttl: 5 }],
        },
      });
      expect(r.status).toBe(201);
      scenarioId = r.body.id;
      await waitFor('the scenario in the answer', async () => {
        const res = await post(heartbeat(++lastGoodSeq));
        return res.body.scenarios?.some((x: { scenarioId: string }) => x.scenarioId === scenarioId);
      });
    });

    it('a role report at the issued epoch is accepted', async () => {
      const r = await post(
        heartbeat(++lastGoodSeq, { scenarios: [{ scenarioId, role: 'production', epoch: 1 }] }),
      );
      expect(r.status).toBe(200);
    });

    it('an epoch never issued (production at 5 when the scenario is at 1) → 409 naming the field, not stored', async () => {
      const r = await post(
        heartbeat(lastGoodSeq + 1, { scenarios: [{ scenarioId, role: 'production', epoch: 5 }] }),
      );
      expect(r.status).toBe(409);
      expect(r.body).toMatchObject({
        error: 'epoch_not_issued',
        details: { field: 'scenarios.0.epoch', issued: 1 },
      });
      await expectUnchanged();
      const stored = await row();
      expect(JSON.stringify(stored?.report)).not.toContain('"epoch":5');
    });

    it('a scenario this node is not part of (deleted since): the report is not stored, the heartbeat is taken', async () => {
      const stranger = randomUUID();
      const r = await post(
        heartbeat(++lastGoodSeq, { scenarios: [{ scenarioId: stranger, role: 'production', epoch: 1 }] }),
      );
      // Refusing it would keep an agent that still lists a deleted scenario from ever getting the
      // answer that tells it the scenario is gone.
      expect(r.status).toBe(200);
      expect(r.body.scenarios.map((x: { scenarioId: string }) => x.scenarioId)).toEqual([scenarioId]);
      await waitFor('node_status flushed', async () => (await row())?.lastSeq === String(lastGoodSeq));
      expect(JSON.stringify((await row())?.report)).not.toContain(stranger);
    });

    it('confirmEpochs answers with the epoch in PostgreSQL, ahead of the cache', async () => {
      await db.query(`UPDATE "${o.schema}".scenarios SET epoch = 3 WHERE id = $1`, [scenarioId]);
      const r = await post(heartbeat(++lastGoodSeq, { confirmEpochs: [scenarioId] }));
      expect(r.status).toBe(200);
      expect(r.body.scenarios.find((x: { scenarioId: string }) => x.scenarioId === scenarioId).epoch).toBe(3);
      // And a report at 3 is now accepted (PostgreSQL vouches for it before the cache does).
      const ok = await post(
        heartbeat(++lastGoodSeq, { scenarios: [{ scenarioId, role: 'replica', epoch: 3 }] }),
      );
      expect(ok.status).toBe(200);
    });
  });

  it('invalid JSON, an array or null as the body → 400, nothing changes', async () => {
    for (const raw of ['{"nodeId": ', JSON.stringify([heartbeat(6)]), 'null']) {
      const r = await post(undefined, a.agentToken, raw);
      expect(r.status).toBe(400);
    }
    await expectUnchanged();
  });

  it('a replayed or older heartbeat of the same boot is answered but ignored', async () => {
    expect((await post(heartbeat(3))).status).toBe(200);
    expect((await post(heartbeat(5))).status).toBe(200);
    await expectUnchanged();
  });

  it('no token or a wrong token → 401', async () => {
    const noToken = await http(o.url, 'POST', '/api/v1/heartbeats', { body: heartbeat(6) });
    expect(noToken.status).toBe(401);
    expect((await post(heartbeat(6), 'not-a-real-token-0123456789')).status).toBe(401);
    await expectUnchanged();
  });

  it("another node's agent token → 403; an API token → 403", async () => {
    const other = await post(heartbeat(6), b.agentToken);
    expect(other.status).toBe(403);
    expect(other.body.message).toMatch(/own node/);
    const admin = await post(heartbeat(6), o.adminToken);
    expect(admin.status).toBe(403);
    await expectUnchanged();
    // Node b got no state from it either.
    const hb = await http(o.url, 'GET', `/api/v1/nodes/${b.id}/health`, { token: o.adminToken });
    expect(hb.body.heartbeat).toBeNull();
  });

  it('an agent token on the CRUD and detection API → 403', async () => {
    const calls: [string, string, unknown?][] = [
      ['GET', '/api/v1/nodes'],
      ['GET', `/api/v1/nodes/${a.id}/health`],
      ['GET', '/api/v1/events'],
      ['GET', '/api/v1/scenarios'],
      [
        'POST',
        '/api/v1/nodes',
        { name: 'hbin-evil', address: '127.0.0.85', agentUrl: 'http://127.0.0.85:17812' },
      ],
      ['POST', '/api/v1/storm-brake/acknowledge', { reason: 'agent says so' }],
    ];
    for (const [method, path, body] of calls) {
      const r = await http(o.url, method, path, { token: a.agentToken, body });
      expect([method, path, r.status]).toEqual([method, path, 403]);
    }
    const nodes = await http(o.url, 'GET', '/api/v1/nodes', { token: o.adminToken });
    expect(nodes.body.items.map((n: { name: string }) => n.name).sort()).toEqual(['hbin-a', 'hbin-b']);
  });

  it('NUL bytes and lone surrogates in check output → 400 naming the field (agents repair script output at the source)', async () => {
    for (const bad of ['bad\\u0000byte', 'half \\ud800 surrogate', 'lone \\udc00 low']) {
      const raw = JSON.stringify(heartbeat(lastGoodSeq + 1)).replace('"output":"fine"', `"output":"${bad}"`);
      const r = await post(undefined, a.agentToken, raw);
      expect(r.status).toBe(400);
      expect(r.body.message).toMatch(/^checks\[0\]\.output must not contain/);
      await expectUnchanged();
    }
    // The node's next good heartbeat is taken and flushed as usual.
    expect((await post(heartbeat(++lastGoodSeq))).status).toBe(200);
    await waitFor('node_status flushed', async () => (await row())?.lastSeq === String(lastGoodSeq));
    await expectUnchanged();
  });

  it('assignments are left out of the answer while they equal the version the agent sends back', async () => {
    const created = await http(o.url, 'POST', '/api/v1/scenarios', {
      token: o.adminToken,
      body: {
        name: 'hbin-versioned',
        productionNodeId: a.id,
        replicaNodeIds: [b.id],
        dnsRecords: [{ zone: 'hbin.test', name: 'v.hbin.test', type: 'A', ttl: 5 }],
      },
    });
    expect(created.status).toBe(201);
    const full = await post(heartbeat(++lastGoodSeq));
    expect(full.status).toBe(200);
    // (with the scenario of the epoch tests above)
    expect(full.body.scenarios.map((x: { scenarioId: string }) => x.scenarioId)).toContain(created.body.id);
    const version = full.body.assignmentVersion;
    expect(version).toMatch(/^[A-Za-z0-9_-]{16,64}$/);

    const same = await post(heartbeat(++lastGoodSeq, { assignmentVersion: version }));
    expect(same.status).toBe(200);
    // (the owners: this one instance, detection being shared among the detector instances alive)
    expect(same.body).toEqual({
      nodeId: a.id,
      serverTime: expect.any(Number),
      assignmentVersion: version,
      owners: [o.url],
    });
    // A version the orchestrator did not give (or an old one) gets the whole list.
    const other = await post(heartbeat(++lastGoodSeq, { assignmentVersion: 'not-this-one' }));
    expect(other.body).toMatchObject({ assignmentVersion: version, scenarios: full.body.scenarios });
    expect((await post(heartbeat(++lastGoodSeq, { assignmentVersion: 'x'.repeat(65) }))).status).toBe(400);
    lastGoodSeq--; // that one was refused

    // The assignment changes (a new lease): the same version now gets the new list and version.
    const patched = await http(o.url, 'PATCH', `/api/v1/scenarios/${created.body.id}`, {
      token: o.adminToken,
      body: { policy: { leaseMs: 7000 } },
    });
    expect(patched.status).toBe(200);
    const changed = await post(heartbeat(++lastGoodSeq, { assignmentVersion: version }));
    expect(changed.body.assignmentVersion).not.toBe(version);
    expect(changed.body.scenarios).toContainEqual(
      expect.objectContaining({ scenarioId: created.body.id, leaseMs: 7000 }),
    );
  });

  it('a node with thousands of scenarios fits (over the API body limit); a heartbeat over 4 MiB is a 413', async () => {
    // Reports of scenarios the node is not assigned are dropped, not refused: the rest is taken.
    const reports = Array.from({ length: 4000 }, () => ({
      scenarioId: randomUUID(),
      role: 'replica',
      epoch: 1,
    }));
    const body = heartbeat(++lastGoodSeq, { scenarios: reports });
    expect(JSON.stringify(body).length).toBeGreaterThan(256 * 1024);
    const big = await post(body);
    expect(big.status).toBe(200);
    expect((await live()).heartbeat).toMatchObject({ seq: lastGoodSeq });
    const huge = await post(
      undefined,
      a.agentToken,
      JSON.stringify(heartbeat(lastGoodSeq + 1, { pad: 'x'.repeat(5 * 1024 * 1024) })),
    );
    expect(huge.status).toBe(413);
    await expectUnchanged();
  });
});
