import { createServer } from 'node:http';
import { Cluster } from '../support/cluster';
import { http, waitFor } from '../support/orchestrator';

describe('anti-flap: hold-down after a failover and the storm brake', () => {
  // The NOC's webhook endpoint: collects the kinds of events it receives.
  const hooks: string[] = [];
  const hookBodies: { kind: string; details?: { decision?: { id: string; rule: string } } }[] = [];
  const receiver = createServer((req, res) => {
    let raw = '';
    req.on('data', (d) => (raw += d));
    req.on('end', () => {
      hooks.push(JSON.parse(raw).kind);
      hookBodies.push(JSON.parse(raw));
      res.writeHead(204).end();
    });
  });
  const HOOK_PORT = 18121;
  const c = new Cluster({
    label: 'antiflap',
    addressPrefix: '127.0.0.12',
    agentPort: 17120,
    dnsPort: 15120,
    failoverMode: 'auto',
    policy: { holdDownMs: 8000 },
    orchestratorEnv: {
      STORM_MAX_FAILOVERS: '1',
      STORM_WINDOW_MS: '600000',
      WEBHOOK_URLS: `http://127.0.0.1:${HOOK_PORT}/hook`,
    },
  });

  beforeAll(async () => {
    await new Promise<void>((r) => receiver.listen(HOOK_PORT, '127.0.0.1', r));
    await c.start();
  });
  afterAll(async () => {
    await c.close();
    await new Promise((r) => receiver.close(r));
  });

  const events = async (kind: string) =>
    (await c.api('GET', `/api/v1/events?scenarioId=${c.scenarioId}&kind=${kind}`)).body.items as {
      message: string;
    }[];

  it('holds the scenario after moving users, then the storm brake stops automatic failovers until an admin acknowledges', async () => {
    // First automatic failover.
    await c.production.agent!.kill();
    await c.waitDns(c.replica.address);
    await c.waitState('failed_over');
    // Production comes back (demoted) and the operator fails back: users are on production again.
    await c.startAgent(c.production);
    await waitFor(
      'old production demoted',
      async () => (await c.agentStatus(c.production))?.scenarios?.[0]?.role === 'demoted',
      20000,
    );
    const fb = await c.api('POST', `/api/v1/scenarios/${c.scenarioId}/failback`, { reason: 'repaired' });
    expect((await c.waitOperation(fb.body.id)).state).toBe('succeeded');
    expect(await c.dnsAnswer()).toEqual([c.production.address]);
    const held = await c.scenario();
    expect(new Date(held.holdUntil).getTime()).toBeGreaterThan(Date.now());

    // Production dies again inside the hold-down: no automatic failover, an event says why.
    await c.production.agent!.kill();
    const suppressed = await waitFor(
      'hold-down event',
      async () => (await events('failover-suppressed'))[0],
      20000,
    );
    expect(suppressed.message).toMatch(/hold-down/);
    expect(await c.dnsAnswer()).toEqual([c.production.address]);

    // After the hold-down, the storm brake (max 1 automatic failover per window) engages instead.
    const brake = await waitFor(
      'storm brake engaged',
      async () => {
        const s = await c.api('GET', '/api/v1/storm-brake');
        return s.body.engaged ? s.body : null;
      },
      30000,
    );
    expect(brake.recentAutomaticFailovers).toBeGreaterThanOrEqual(1);
    // Each reason is reported once: the hold-down earlier, the storm brake now.
    await waitFor('storm brake suppression event', async () =>
      (await events('failover-suppressed')).some((e) => /storm brake/.test(e.message)),
    );
    expect((await events('failover-suppressed')).filter((e) => /hold-down/.test(e.message))).toHaveLength(1);
    await waitFor('storm-brake webhook', async () => hooks.includes('storm-brake'), 10000);
    expect(hooks).toContain('failover-suppressed');
    expect(await c.dnsAnswer()).toEqual([c.production.address]);
    expect((await c.operations()).filter((o) => o.type === 'failover')).toHaveLength(1);

    // The decision records say the same, once each, newest first, with evidence and thresholds.
    const decisions = async (query = '') =>
      (await c.api('GET', `/api/v1/scenarios/${c.scenarioId}/decisions${query}`)).body.items as {
        id: string;
        rule: string;
        outcome: string;
        operationId: string | null;
        evidence: { verdict?: string; observers?: unknown[] };
        thresholds: { holdDownMs?: number; stormBrake?: { maxFailovers: number }; checks?: unknown[] };
      }[];
    const braked = await decisions();
    expect(braked.map((d) => d.rule)).toEqual(['storm-brake', 'hold-down', 'failover']);
    const [brakeDecision, holdDecision, firstFailover] = braked;
    expect(brakeDecision).toMatchObject({ outcome: 'suppressed', operationId: null });
    expect(holdDecision.evidence.verdict).toBe('failed');
    expect(holdDecision.thresholds).toMatchObject({ holdDownMs: 8000, stormBrake: { maxFailovers: 1 } });
    expect(holdDecision.thresholds.checks?.length).toBeGreaterThan(0);
    // The first failover's decision names its operation, and the operation names it back.
    const firstOp = (await c.operations()).find((o) => o.type === 'failover')!;
    expect(firstFailover).toMatchObject({ outcome: 'failover', operationId: firstOp.id });
    expect((await c.api('GET', `/api/v1/operations/${firstOp.id}`)).body.decisionId).toBe(firstFailover.id);
    expect((await decisions('?outcome=suppressed')).map((d) => d.rule)).toEqual(['storm-brake', 'hold-down']);
    expect((await decisions('?rule=hold-down')).map((d) => d.id)).toEqual([holdDecision.id]);
    expect(await decisions(`?since=${new Date(Date.now() + 60_000).toISOString()}`)).toEqual([]);
    // The webhook for the suppression carries its decision.
    await waitFor('webhook with the decision', async () =>
      hookBodies.some(
        (b) => b.kind === 'failover-suppressed' && b.details?.decision?.id === brakeDecision.id,
      ),
    );

    // Post-incident notes on a decision and on an operation; bad input is refused, nothing written.
    const note = await c.api('POST', `/api/v1/decisions/${holdDecision.id}/notes`, {
      text: 'hold-down was right: the switch flapped',
    });
    expect(note.status).toBe(201);
    expect((await c.api('GET', `/api/v1/decisions/${holdDecision.id}`)).body.notes).toEqual([
      expect.objectContaining({
        text: 'hold-down was right: the switch flapped',
        author: expect.any(String),
      }),
    ]);
    expect((await c.api('POST', `/api/v1/operations/${firstOp.id}/notes`, { text: 'INC-1' })).status).toBe(
      201,
    );
    expect((await c.api('GET', `/api/v1/operations/${firstOp.id}`)).body.notes).toEqual([
      expect.objectContaining({ text: 'INC-1' }),
    ]);
    const audit = await c.api('GET', `/api/v1/audit?targetId=${holdDecision.id}`);
    expect(audit.body.items.map((a: { action: string }) => a.action)).toEqual(['decision.note-added']);
    const unknown = '00000000-0000-4000-8000-000000000000';
    for (const [method, path, body, status] of [
      ['GET', `/api/v1/scenarios/${unknown}/decisions`, undefined, 404],
      ['GET', `/api/v1/scenarios/${c.scenarioId}/decisions?outcome=maybe`, undefined, 400],
      ['GET', `/api/v1/scenarios/${c.scenarioId}/decisions?since=yesterday`, undefined, 400],
      ['GET', `/api/v1/scenarios/${c.scenarioId}/decisions?limit=0`, undefined, 400],
      ['GET', `/api/v1/decisions/${unknown}`, undefined, 404],
      ['GET', '/api/v1/decisions/not-a-uuid', undefined, 400],
      ['POST', `/api/v1/decisions/${unknown}/notes`, { text: 'x' }, 404],
      ['POST', `/api/v1/operations/${unknown}/notes`, { text: 'x' }, 404],
      ['POST', `/api/v1/decisions/${holdDecision.id}/notes`, { text: '' }, 400],
      ['POST', `/api/v1/decisions/${holdDecision.id}/notes`, { text: 'x'.repeat(4001) }, 400],
      ['POST', `/api/v1/decisions/${holdDecision.id}/notes`, { text: 42 }, 400],
      ['POST', `/api/v1/decisions/${holdDecision.id}/notes`, {}, 400],
    ] as const) {
      const r = await c.api(method, path, body);
      expect({ path, body, status: r.status }).toEqual({ path, body, status });
    }
    expect((await c.api('GET', `/api/v1/decisions/${holdDecision.id}`)).body.notes).toHaveLength(1);

    // Only an admin may release it; an operator gets 403.
    const op = await c.api('POST', '/api/v1/tokens', { name: 'noc-operator', role: 'operator' });
    expect(op.status).toBe(201);
    const refused = await http(c.o.url, 'POST', '/api/v1/storm-brake/acknowledge', {
      token: op.body.token,
      body: { reason: 'try' },
    });
    expect(refused.status).toBe(403);
    const viewer = await c.api('POST', '/api/v1/tokens', { name: 'noc-viewer', role: 'viewer' });
    const viewerNote = await http(c.o.url, 'POST', `/api/v1/decisions/${holdDecision.id}/notes`, {
      token: viewer.body.token,
      body: { text: 'not mine to write' },
    });
    expect(viewerNote.status).toBe(403);
    const ack = await c.api('POST', '/api/v1/storm-brake/acknowledge', {
      reason: 'flapping switch replaced',
    });
    expect(ack.status).toBe(200);
    expect(ack.body.engaged).toBe(false);
    // Automatic action resumes: production is still dead, so the failover now happens.
    await c.waitDns(c.replica.address, 30000);
    expect((await c.operations()).filter((o) => o.type === 'failover' && o.trigger === 'auto')).toHaveLength(
      2,
    );
    await waitFor('the second failover decision', async () => (await decisions())[0]?.rule === 'failover');
    const [second] = await decisions();
    expect(second.operationId).not.toBeNull();
    expect(second.operationId).not.toBe(firstOp.id);
  });
});
