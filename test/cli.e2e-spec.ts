import { execFile, spawn } from 'node:child_process';
import { join } from 'node:path';
import { Cluster } from './support/cluster';
import { ROOT, waitFor } from './support/orchestrator';

/** The ops CLI against a real orchestrator and agents: what a runbook would type. */
describe('hactl (ops CLI)', () => {
  const c = new Cluster({
    label: 'cli',
    addressPrefix: '127.0.0.19',
    agentPort: 17190,
    dnsPort: 15190,
    failoverMode: 'manual',
  });
  beforeAll(async () => {
    await c.start();
  });
  afterAll(async () => {
    await c.close();
  });

  const hactl = (args: string[], token = c.token, url = c.o.url) =>
    new Promise<{ code: number; stdout: string; stderr: string }>((resolve) => {
      execFile(
        process.execPath,
        [join(ROOT, 'dist/apps/orchestrator/src/cli/hactl.js'), ...args],
        { env: { ...process.env, HA_URL: url, HA_TOKEN: token }, timeout: 60000 },
        (err, stdout, stderr) =>
          resolve({ code: err ? Number((err as { code?: number }).code ?? 1) : 0, stdout, stderr }),
      );
    });

  it('lists and shows scenarios by name', async () => {
    const list = await hactl(['scenarios']);
    expect(list.code).toBe(0);
    expect(list.stdout).toMatch(/orders\s+running\s+1\s+prod\s+manual/);
    const status = await hactl(['status', 'orders']);
    expect(status.stdout).toMatch(/orders: running, epoch 1/);
    expect(status.stdout).toMatch(/replica1/);
    const json = JSON.parse((await hactl(['status', 'orders', '--json'])).stdout);
    expect(json.scenario.id).toBe(c.scenarioId);
  });

  it('refuses bad usage with exit 2 and changes nothing', async () => {
    const noReason = await hactl(['failover', 'orders']);
    expect(noReason.code).toBe(2);
    expect(noReason.stderr).toMatch(/--reason/);
    expect((await hactl(['frobnicate'])).code).toBe(2);
    expect((await hactl(['status', 'no-such-scenario'])).code).toBe(1);
    expect((await c.operations()).filter((o) => o.type === 'failover')).toHaveLength(0);
  });

  it('a viewer cannot fail over (exit 1, 403); an unreachable orchestrator is exit 3', async () => {
    const viewer = await c.api('POST', '/api/v1/tokens', { name: 'cli-viewer', role: 'viewer' });
    const r = await hactl(['failover', 'orders', '--reason', 'x'], viewer.body.token);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/403/);
    expect((await hactl(['scenarios'], c.token, 'http://127.0.0.1:1')).code).toBe(3);
  });

  it('maintenance: start on a node by name, list, extend, end; bad usage is exit 2', async () => {
    expect((await hactl(['maintenance', 'start', '--node', 'replica1', '--reason', 'x'])).code).toBe(2);
    expect(
      (await hactl(['maintenance', 'start', '--node', 'replica1', '--for', '2 weeks', '--reason', 'x'])).code,
    ).toBe(2);
    expect((await hactl(['maintenance', 'start', '--for', '1h', '--reason', 'x'])).code).toBe(2);
    const started = await hactl([
      'maintenance',
      'start',
      '--node',
      'replica1',
      '--for',
      '1h',
      '--reason',
      'CHG-1 patching',
    ]);
    expect(started.code).toBe(0);
    expect(started.stdout).toMatch(/window [0-9a-f-]{36}: node replica1 active/);
    expect(started.stdout).toMatch(/orders: node is not a promotion target/);
    expect(started.stdout).toMatch(/WARNING: scenario orders has no eligible replica/);
    const id = /window ([0-9a-f-]{36})/.exec(started.stdout)![1];
    expect((await hactl(['maintenance'])).stdout).toMatch(new RegExp(`${id}\\s+active\\s+node replica1`));
    const extended = JSON.parse(
      (await hactl(['maintenance', 'extend', id, '--for', '2h', '--reason', 'longer', '--json'])).stdout,
    );
    expect(new Date(extended.window.endsAt).getTime()).toBeGreaterThan(Date.now() + 3600_000);
    const ended = await hactl(['maintenance', 'end', id, '--reason', 'done']);
    expect(ended.code).toBe(0);
    expect(ended.stdout).toMatch(/automatic failover of node replica1 resumes/);
    expect((await hactl(['maintenance', 'end', id, '--reason', 'again'])).code).toBe(1);
    expect((await hactl(['maintenance'])).stdout).toMatch(/no maintenance window/);
    expect((await hactl(['maintenance', '--all'])).stdout).toMatch(new RegExp(`${id}\\s+ended`));
  });

  it('--dry-run prints the plan and changes nothing; a refused plan exits 1', async () => {
    const before = await c.scenario();
    // What operators did (the maintenance announcer audits the end of the window above as system).
    const audited = async () =>
      (await c.api('GET', '/api/v1/audit?limit=200')).body.items.filter(
        (a: { actor: string }) => a.actor !== 'system',
      ).length;
    const auditedBefore = await audited();
    const plan = await hactl(['failover', 'orders', '--reason', 'runbook check', '--dry-run']);
    expect(plan.code).toBe(0);
    expect(plan.stdout).toMatch(/DRY RUN failover of orders: would run \(nothing was changed\)/);
    expect(plan.stdout).toMatch(/epoch 1 → 2/);
    expect(plan.stdout).toMatch(/target: replica1/);
    expect(plan.stdout).toMatch(/fence prod: agent-demote/);
    expect(plan.stdout).toMatch(/steps: lock-epoch → pre-checks → fence → promote → redirect-dns/);
    const refused = await hactl(['failback', 'orders', '--reason', 'x', '--dry-run']);
    expect(refused.code).toBe(1);
    expect(refused.stdout).toMatch(/REFUSED \(state\): cannot failback a scenario that is running/);
    expect((await hactl(['failover', 'orders', '--reason', 'x', '--dry-run', '--wait'])).code).toBe(2);
    expect(await c.scenario()).toMatchObject({ epoch: before.epoch, state: before.state });
    expect(await audited()).toBe(auditedBefore);
    expect((await c.operations()).filter((o) => o.type === 'failover')).toHaveLength(0);
  });

  it('fails over with --wait, prints the step timeline, and DNS follows', async () => {
    const op = await c.api('POST', '/api/v1/tokens', { name: 'cli-operator', role: 'operator' });
    const r = await hactl(
      ['failover', 'orders', '--reason', 'runbook 12 step 3', '--target', 'replica1', '--wait'],
      op.body.token,
    );
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/failover\s+succeeded\s+epoch 2\s+by cli-operator/);
    expect(r.stdout).toMatch(/promote\s+done/);
    // --wait followed the operation's live stream: every step's end, in the order they ran (a step
    // faster than the stream's poll shows only its end).
    const live = r.stderr.split('\n').filter((l) => /^hactl: +\d+ /.test(l));
    const done = live.filter((l) => / done( |$)/.test(l)).map((l) => l.split(/\s+/)[2]);
    const failover = (await c.operations()).find((o) => o.type === 'failover');
    const steps = (await c.api('GET', `/api/v1/operations/${failover.id}`)).body.steps.map(
      (x: { name: string }) => x.name,
    );
    expect(done).toEqual(steps);
    expect(await c.dnsAnswer()).toEqual([c.replica.address]);
    const ops = await hactl(['operations', 'orders']);
    expect(ops.stdout).toMatch(/failover\s+succeeded\s+manual/);
    // A note on the operation for the review; bad usage is exit 2.
    const id = (await c.operations()).find((o) => o.type === 'failover').id;
    expect((await hactl(['note', 'operation', id, '--text', 'INC-9 drill'])).code).toBe(0);
    expect((await c.api('GET', `/api/v1/operations/${id}`)).body.notes).toEqual([
      expect.objectContaining({ text: 'INC-9 drill' }),
    ]);
    expect((await hactl(['note', 'operation', id])).code).toBe(2);
    expect((await hactl(['note', 'thing', id, '--text', 'x'])).code).toBe(2);
    // A manual-mode scenario: nothing automatic was decided about it.
    expect((await hactl(['decisions', 'orders'])).code).toBe(0);
  });
  it('events --follow prints events live, filters by kind, and exits 0 on Ctrl-C', async () => {
    const child = spawn(
      process.execPath,
      [
        join(ROOT, 'dist/apps/orchestrator/src/cli/hactl.js'),
        'events',
        'orders',
        '--follow',
        '--kinds',
        'operation-succeeded',
        '--json',
      ],
      { env: { ...process.env, HA_URL: c.o.url, HA_TOKEN: c.token }, stdio: ['ignore', 'pipe', 'pipe'] },
    );
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
    try {
      await new Promise((r) => setTimeout(r, 1500)); // connected, streaming from now
      expect(out).toBe(''); // the earlier failover's events are history, not live
      const op = await c.api('POST', `/api/v1/scenarios/${(await c.scenario()).id}/failback`, {
        reason: 'cli follow',
      });
      expect(op.status).toBe(202);
      await waitFor('a followed event', async () => out.includes('\n'), 60000);
      const e = JSON.parse(out.split('\n')[0]);
      expect(e).toMatchObject({
        kind: 'operation-succeeded',
        details: { operationId: op.body.id, type: 'failback' },
      });
      child.kill('SIGINT');
      expect(await exited).toBe(0);
      expect(
        out
          .split('\n')
          .filter(Boolean)
          .every((l) => JSON.parse(l).kind === 'operation-succeeded'),
      ).toBe(true);
    } finally {
      child.kill('SIGKILL');
    }
  });
  it('events: --kinds without --follow is bad usage', async () => {
    expect((await hactl(['events', 'orders', '--kinds', 'alert'])).code).toBe(2);
  });
});
