/**
 * Assured Recovery end to end: real agents whose ar-* actions log every run, PostgreSQL, Redis
 * and the embedded DNS. The test runs on the replica only; production and DNS are never touched.
 */
import { rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Cluster } from '../support/cluster';
import { waitFor } from '../support/orchestrator';

const AR_STEPS = ['ar-suspend', 'ar-start', 'ar-check', 'ar-snapshot', 'ar-rewind', 'ar-resume'];

describe('Assured Recovery tests (real agents, PostgreSQL, Redis, DNS)', () => {
  const c = new Cluster({
    label: 'assuredrecovery',
    addressPrefix: '127.0.0.22',
    agentPort: 17220,
    dnsPort: 15220,
    arActions: true,
  });

  beforeAll(async () => {
    await c.start();
  });
  afterAll(async () => {
    await c.close();
  });

  const arTest = (body: Record<string, unknown>) =>
    c.api('POST', `/api/v1/scenarios/${c.scenarioId}/ar-test`, body);
  /** Steer the replica's ar-* scripts: `<action>.sleep` / `<action>.exit` files (null removes). */
  const steer = (action: string, suffix: 'sleep' | 'exit', value: number | null) => {
    const f = join(c.replica.dir, `${action}.${suffix}`);
    if (value === null) rmSync(f, { force: true });
    else writeFileSync(f, String(value));
  };
  const arLines = () => c.actionsLog(c.replica).filter((l) => l.startsWith('ar-'));

  it('a manual AR test runs all six steps on the replica, at the current epoch, and touches nothing else', async () => {
    steer('ar-check', 'sleep', 1);
    const r = await arTest({ reason: 'quarterly drill', snapshot: true });
    expect(r.status).toBe(202);
    expect(r.body).toMatchObject({ type: 'ar-test', trigger: 'manual', epoch: 1 });
    expect(r.body.params.targetNodeId).toBe(c.replica.id);
    await c.waitState('ar_testing', 5000);
    const op = await c.waitOperation(r.body.id);
    steer('ar-check', 'sleep', null);

    expect(op.state).toBe('succeeded');
    expect(op.steps.map((s: any) => [s.name, s.state])).toEqual(AR_STEPS.map((n) => [n, 'done']));
    expect(op.steps.find((s: any) => s.name === 'ar-check').output).toMatchObject({
      arResult: 'passed',
      exitCode: 0,
      output: expect.stringContaining('ar-check on replica1'),
    });
    expect(op.steps.at(-1).output).toMatchObject({ arResult: 'passed', aborted: false });
    // Each action exactly once, in order, with the current (unchanged) epoch.
    expect(arLines()).toEqual(AR_STEPS.map((a) => expect.stringMatching(new RegExp(`^${a} epoch=1 `))));
    expect(c.actionsLog(c.production)).toEqual([]);
    expect(await c.dnsAnswer()).toEqual([c.production.address]);
    expect(await c.scenario()).toMatchObject({ state: 'running', epoch: 1, activeNodeId: c.production.id });

    const results = await c.api('GET', `/api/v1/scenarios/${c.scenarioId}/ar-results`);
    expect(results.status).toBe(200);
    expect(results.body[0]).toMatchObject({
      operationId: op.id,
      state: 'succeeded',
      arResult: 'passed',
      targetNodeId: c.replica.id,
      epoch: 1,
      checkOutput: expect.stringContaining('ar-check on replica1'),
    });
    expect(results.body[0].durationMs).toBeGreaterThanOrEqual(1000);
    expect(results.body[0].steps).toHaveLength(6);
  });

  it('a failing ar-check (exit 2) is a failed result, yet the replica is rewound and resumed', async () => {
    const before = arLines().length;
    steer('ar-check', 'exit', 2);
    const r = await arTest({ reason: 'drill with a broken app' });
    const op = await c.waitOperation(r.body.id);
    steer('ar-check', 'exit', null);

    // The machinery worked (state succeeded); the test's verdict is the failure.
    expect(op.state).toBe('succeeded');
    expect(op.params.arResult).toBe('failed');
    expect(op.steps.map((s: any) => [s.name, s.state])).toEqual(
      AR_STEPS.filter((s) => s !== 'ar-snapshot').map((n) => [n, 'done']),
    );
    expect(op.steps.find((s: any) => s.name === 'ar-check').output).toMatchObject({
      arResult: 'failed',
      exitCode: 2,
    });
    expect(
      arLines()
        .slice(before)
        .map((l) => l.split(' ')[0]),
    ).toEqual(['ar-suspend', 'ar-start', 'ar-check', 'ar-rewind', 'ar-resume']);
    expect(await c.scenario()).toMatchObject({ state: 'running', epoch: 1 });
    const results = await c.api('GET', `/api/v1/scenarios/${c.scenarioId}/ar-results?limit=1`);
    expect(results.body).toEqual([expect.objectContaining({ operationId: op.id, arResult: 'failed' })]);
    const ev = await c.api('GET', `/api/v1/events?scenarioId=${c.scenarioId}&kind=ar-test-result`);
    expect(ev.body.items[0].message).toMatch(/failed/);
  });

  it('refuses the active node or a non-replica as target (400), and bad input, and starts nothing', async () => {
    const count = (await c.operations()).length;
    const active = await arTest({ reason: 'x', targetNodeId: c.production.id });
    expect(active.status).toBe(400);
    expect(active.body.message).toMatch(/active node/);
    const stranger = await arTest({ reason: 'x', targetNodeId: '00000000-0000-4000-8000-000000000000' });
    expect(stranger.status).toBe(400);
    expect((await arTest({})).status).toBe(400);
    expect((await arTest({ reason: 'x', snapshot: 'yes' })).status).toBe(400);
    expect((await c.operations()).length).toBe(count);
    expect((await c.scenario()).state).toBe('running');
  });

  it('validates arSchedule, and a schedule runs AR tests automatically (trigger auto)', async () => {
    const bad = await c.api('PATCH', `/api/v1/scenarios/${c.scenarioId}`, { arSchedule: 'every day' });
    expect(bad.status).toBe(400);
    expect(bad.body.message).toMatch(/arSchedule/);
    // A test outlasting the 1 s schedule: the slots that find it running are skipped, with an event.
    steer('ar-check', 'sleep', 1.5);
    const set = await c.api('PATCH', `/api/v1/scenarios/${c.scenarioId}`, { arSchedule: '* * * * * *' });
    expect(set.status).toBe(200);
    expect(set.body.arSchedule).toBe('* * * * * *');
    const auto = await waitFor(
      'a scheduled AR test',
      async () => {
        const ops = await c.operations();
        return ops.find((o) => o.type === 'ar-test' && o.trigger === 'auto' && o.state === 'succeeded');
      },
      20000,
    );
    expect(auto.requestedBy).toBe('scheduler');
    const skipped = await waitFor('a skipped slot', async () => {
      const ev = await c.api('GET', `/api/v1/events?scenarioId=${c.scenarioId}&kind=ar-test-skipped`);
      return ev.body.items[0];
    });
    expect(skipped.message).toMatch(/skipped: .*(ar_testing|another operation is running)/);
    const off = await c.api('PATCH', `/api/v1/scenarios/${c.scenarioId}`, { arSchedule: null });
    expect(off.body.arSchedule).toBeNull();
    steer('ar-check', 'sleep', null);
    // Let a test requested just before the schedule was removed finish.
    await waitFor('no operation running', async () =>
      (await c.operations()).every((o) => o.state === 'succeeded' || o.state === 'failed'),
    );
    await c.waitState('running');
    const n = (await c.operations()).length;
    await new Promise((r) => setTimeout(r, 1500));
    expect((await c.operations()).length).toBe(n);
  });

  it('production killed during an AR test: the test is aborted with rewind + resume, then the failover happens', async () => {
    steer('ar-check', 'sleep', 5);
    const before = arLines().length;
    const r = await arTest({ reason: 'drill interrupted by a real failure', snapshot: true });
    expect(r.status).toBe(202);
    await waitFor('ar-check running', async () => {
      const op = (await c.api('GET', `/api/v1/operations/${r.body.id}`)).body;
      return op.steps.find((s: any) => s.name === 'ar-check').state === 'running';
    });
    await c.production.agent!.kill();

    const ar = await c.waitOperation(r.body.id, 30000);
    steer('ar-check', 'sleep', null);
    expect(ar.state).toBe('failed');
    expect(ar.error).toMatch(/aborted: auto failover/);
    const state = Object.fromEntries(ar.steps.map((s: any) => [s.name, s.state]));
    expect(state).toMatchObject({ 'ar-snapshot': 'skipped', 'ar-rewind': 'done', 'ar-resume': 'done' });

    const failover = await waitFor(
      'automatic failover',
      async () => (await c.operations()).find((o) => o.type === 'failover' && o.state === 'succeeded'),
      30000,
    );
    expect(failover.trigger).toBe('auto');
    await c.waitDns(c.replica.address, 10000);
    expect(await c.scenario()).toMatchObject({ state: 'failed_over', epoch: 2, activeNodeId: c.replica.id });
    // Cleanup ran before the promotion, on the replica, at the old epoch; promote at the new one.
    const lines = c.actionsLog(c.replica).slice(before);
    expect(lines.map((l) => l.split(' ')[0])).toEqual([
      'ar-suspend',
      'ar-start',
      'ar-check',
      'ar-rewind',
      'ar-resume',
      'promote',
    ]);
    expect(lines.at(-2)).toMatch(/ epoch=1 /);
    expect(lines.at(-1)).toMatch(/^promote epoch=2 /);
    const results = (await c.api('GET', `/api/v1/scenarios/${c.scenarioId}/ar-results`)).body;
    expect(results[0]).toMatchObject({ operationId: ar.id, aborted: true, state: 'failed' });
  });

  it('an AR test is allowed only from running: from failed_over it gets 409', async () => {
    expect((await c.scenario()).state).toBe('failed_over');
    const r = await arTest({ reason: 'too late' });
    expect(r.status).toBe(409);
    expect(r.body.message).toMatch(/failed_over/);
  });
});
