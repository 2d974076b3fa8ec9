import { execFile, spawn } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, IncomingMessage, Server } from 'node:http';
import { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
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
    arActions: true,
  });
  // No config file of whoever runs the tests: an empty XDG_CONFIG_HOME, no HACTL_CONFIG.
  const home = mkdtempSync(join(tmpdir(), 'hactl-home-'));
  beforeAll(async () => {
    await c.start();
  });
  afterAll(async () => {
    await c.close();
    rmSync(home, { recursive: true, force: true });
  });

  const baseEnv = () => {
    const env: NodeJS.ProcessEnv = { ...process.env, XDG_CONFIG_HOME: home };
    delete env.HA_URL;
    delete env.HA_TOKEN;
    delete env.HACTL_CONFIG;
    return env;
  };
  const run = (args: string[], env: NodeJS.ProcessEnv) =>
    new Promise<{ code: number; stdout: string; stderr: string }>((resolve) => {
      execFile(
        process.execPath,
        [join(ROOT, 'dist/apps/orchestrator/src/cli/hactl.js'), ...args],
        { env, timeout: 90000, maxBuffer: 16 * 1024 * 1024 },
        (err, stdout, stderr) =>
          resolve({ code: err ? Number((err as { code?: number }).code ?? 1) : 0, stdout, stderr }),
      );
    });
  const hactl = (args: string[], token = c.token, url = c.o.url) =>
    run(args, { ...baseEnv(), HA_URL: url, HA_TOKEN: token });
  const token = async (role: 'viewer' | 'operator', name: string): Promise<string> =>
    (await c.api('POST', '/api/v1/tokens', { name, role })).body.token;

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
      { env: { ...baseEnv(), HA_URL: c.o.url, HA_TOKEN: c.token }, stdio: ['ignore', 'pipe', 'pipe'] },
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

  it('reads the URL and token from a config file; flags and env win; a readable token file is refused', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'hactl-cfg-'));
    try {
      const file = join(dir, 'config.json');
      writeFileSync(file, JSON.stringify({ url: c.o.url, token: c.token }), { mode: 0o600 });
      const env = { ...baseEnv(), HACTL_CONFIG: file };
      const listed = await run(['scenarios', '--json'], env);
      expect(listed.code).toBe(0);
      expect(JSON.parse(listed.stdout).items.map((s: { name: string }) => s.name)).toEqual(['orders']);
      // the default place: $XDG_CONFIG_HOME/hactl/config.json
      const xdg = mkdtempSync(join(dir, 'xdg-'));
      mkdirSync(join(xdg, 'hactl'));
      writeFileSync(join(xdg, 'hactl', 'config.json'), readFileSync(file), { mode: 0o600 });
      expect((await run(['nodes'], { ...baseEnv(), XDG_CONFIG_HOME: xdg })).stdout).toMatch(/replica1/);
      // --url beats the environment, which beats the file
      expect((await run(['scenarios', '--url', 'http://127.0.0.1:1'], env)).code).toBe(3);
      expect((await run(['scenarios'], { ...env, HA_URL: 'http://127.0.0.1:1' })).code).toBe(3);
      const viewer = await token('viewer', 'cli-cfg-viewer');
      const asViewer = await run(['webhook', 'list'], { ...env, HA_TOKEN: viewer });
      expect(asViewer.code).toBe(1);
      expect(asViewer.stderr).toMatch(/403/);
      // like ssh: a token readable by group or others is refused
      chmodSync(file, 0o644);
      const open = await run(['scenarios'], env);
      expect(open.code).toBe(2);
      expect(open.stderr).toMatch(/permissions 0644 .* too open.*chmod 600/);
      // without a token it is fine to share (the token then comes from HA_TOKEN)
      writeFileSync(file, JSON.stringify({ url: c.o.url }));
      chmodSync(file, 0o644);
      expect((await run(['scenarios'], { ...env, HA_TOKEN: c.token })).code).toBe(0);
      const noToken = await run(['scenarios'], env);
      expect(noToken.code).toBe(2);
      expect(noToken.stderr).toMatch(/no API token/);
      writeFileSync(file, '{"url": ');
      expect((await run(['scenarios'], env)).stderr).toMatch(/not JSON/);
      writeFileSync(file, JSON.stringify({ url: c.o.url, tokn: 'x' }));
      expect((await run(['scenarios'], env)).code).toBe(2);
      expect((await run(['scenarios'], { ...env, HACTL_CONFIG: join(dir, 'missing.json') })).code).toBe(2);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('a server error (5xx, e.g. a proxy in front of a dead orchestrator) is exit 3', async () => {
    const proxy = createServer((_req, res) => {
      res.writeHead(502, { 'content-type': 'text/html' });
      res.end('<html>502 Bad Gateway</html>');
    });
    await new Promise<void>((r) => proxy.listen(0, '127.0.0.1', r));
    try {
      const url = `http://127.0.0.1:${(proxy.address() as AddressInfo).port}`;
      const r = await hactl(['scenarios'], c.token, url);
      expect(r.code).toBe(3);
      expect(r.stderr).toMatch(/502 : <html>502 Bad Gateway/);
    } finally {
      proxy.close();
    }
  });

  it('completion bash: a script generated from the command tree', async () => {
    const script = await hactl(['completion', 'bash']);
    expect(script.code).toBe(0);
    const sh = (words: string) =>
      new Promise<string>((resolve, reject) =>
        execFile(
          'bash',
          [
            '-c',
            `source <(node ${JSON.stringify(join(ROOT, 'dist/apps/orchestrator/src/cli/hactl.js'))} completion bash); ` +
              `complete -p hactl; COMP_WORDS=(${words}); COMP_CWORD=$((\${#COMP_WORDS[@]} - 1)); _hactl; echo "\${COMPREPLY[*]}"`,
          ],
          { env: baseEnv() },
          (err, stdout) => (err ? reject(err) : resolve(stdout)),
        ),
      );
    const top = await sh(`hactl ''`);
    expect(top).toMatch(/^complete -F _hactl hactl$/m);
    const words = top.trim().split('\n')[1].split(' ');
    for (const w of [
      'scenarios',
      'failover',
      'group',
      'ar',
      'webhook',
      'report',
      'maintenance',
      'alerts',
      'completion',
    ])
      expect(words).toContain(w);
    expect((await sh(`hactl webhook ''`)).split('\n')[1].split(' ')).toEqual(
      expect.arrayContaining(['list', 'show', 'create', 'delete', 'ping', 'deliveries', 'redeliver']),
    );
    expect((await sh(`hactl --json group failover g1 --`)).split('\n')[1].split(' ')).toEqual(
      expect.arrayContaining(['--reason', '--force', '--wait', '--dry-run', '--json']),
    );
    expect((await sh(`hactl report av`)).split('\n')[1]).toBe('availability');
  });

  it('groups: list, show, dry run, a switchover and failback with --wait; refusals are exit 1', async () => {
    const g = await c.api('POST', '/api/v1/groups', { name: 'cli-site', scenarioIds: [c.scenarioId] });
    expect(g.status).toBe(201);
    const list = await hactl(['group', 'list']);
    expect(list.code).toBe(0);
    expect(list.stdout).toMatch(/cli-site\s+1\s+no/);
    expect(JSON.parse((await hactl(['groups', '--json'])).stdout).items[0].id).toBe(g.body.id);
    const show = await hactl(['group', 'show', 'cli-site']);
    expect(show.stdout).toMatch(/group cli-site .*1 members/);
    expect(show.stdout).toMatch(/orders\s+running/);
    const unknown = await hactl(['group', 'show', '00000000-0000-4000-8000-000000000000']);
    expect(unknown.code).toBe(1);
    expect(unknown.stderr).toMatch(/404/);
    expect((await hactl(['group', 'show', 'no-such-group'])).code).toBe(1);

    const plan = await hactl(['group', 'failover', 'cli-site', '--reason', 'drill', '--dry-run']);
    expect(plan.code).toBe(0);
    expect(plan.stdout).toMatch(/DRY RUN failover of group cli-site: would run/);
    expect(plan.stdout).toMatch(/DRY RUN failover of orders: would run/);
    const refusedPlan = await hactl([
      'group',
      'failback',
      'cli-site',
      '--reason',
      'x',
      '--dry-run',
      '--json',
    ]);
    expect(refusedPlan.code).toBe(1);
    expect(JSON.parse(refusedPlan.stdout)).toMatchObject({ dryRun: true, wouldRun: false });
    expect((await c.scenario()).state).toBe('running');

    const viewer = await token('viewer', 'cli-group-viewer');
    const denied = await hactl(['group', 'switchover', 'cli-site', '--reason', 'x'], viewer);
    expect(denied.code).toBe(1);
    expect(denied.stderr).toMatch(/403/);
    expect((await hactl(['group', 'switchover', 'cli-site'])).code).toBe(2);

    const sw = await hactl([
      'group',
      'switchover',
      'cli-site',
      '--reason',
      'CHG-7 site move',
      '--wait',
      '--json',
    ]);
    expect(sw.code).toBe(0);
    const result = JSON.parse(sw.stdout);
    expect(result.refused).toEqual([]);
    expect(result.operations).toEqual([
      expect.objectContaining({ type: 'switchover', state: 'succeeded', groupId: g.body.id }),
    ]);
    expect(sw.stderr).toMatch(/hactl: orders: +\d+ promote done/);
    expect(await c.dnsAnswer()).toEqual([c.replica.address]);
    expect((await hactl(['operations', '--group', 'cli-site'])).stdout).toMatch(/switchover\s+succeeded/);
    // the member is failed over now: a group switchover refuses it (exit 1, named)
    const again = await hactl(['group', 'switchover', 'cli-site', '--reason', 'again']);
    expect(again.code).toBe(1);
    expect(again.stderr).toMatch(/409/);
    const back = await hactl(['group', 'failback', 'cli-site', '--reason', 'CHG-7 done', '--wait']);
    expect(back.code).toBe(0);
    expect(back.stdout).toMatch(/group cli-site: 1 failback operation\(s\) ended, 0 member\(s\) refused/);
    expect(back.stdout).toMatch(/orders\s+[0-9a-f-]{36}\s+succeeded/);
    await c.waitState('running');
    expect(await c.dnsAnswer()).toEqual([c.production.address]);

    // status, split recovery (dry run) and a group AR run
    const status = await hactl(['group', 'status', 'cli-site']);
    expect(status.code).toBe(0);
    expect(status.stdout).toMatch(/group cli-site: CONSISTENT \(production side\)/);
    expect(status.stdout).toMatch(/orders\s+running\s+production/);
    expect((await hactl(['group', 'recover', 'cli-site', '--reason', 'x'])).code).toBe(2);
    expect((await hactl(['group', 'recover', 'cli-site', '--reason', 'x', '--keep', 'both'])).code).toBe(2);
    const badMember = await hactl(['group', 'recover', 'cli-site', '--reason', 'x', '--member', 'orders']);
    expect([badMember.code, badMember.stderr]).toEqual([
      2,
      expect.stringMatching(/expected <scenario>=<node>/),
    ]);
    const recoverPlan = await hactl([
      'group',
      'recover',
      'cli-site',
      '--reason',
      'x',
      '--keep',
      'production',
      '--dry-run',
    ]);
    expect(recoverPlan.code).toBe(0);
    expect(recoverPlan.stdout).toMatch(/DRY RUN active-server-recovery of group cli-site: would run/);
    const arRun = await hactl(['group', 'ar-test', 'cli-site', '--reason', 'group drill', '--wait']);
    expect(arRun.code).toBe(0);
    expect(arRun.stdout).toMatch(/AR run [0-9a-f-]{36} of group cli-site: 1 passed/);
    expect(arRun.stdout).toMatch(/orders\s+finished\s+passed\s+[\d.]+ s/);
    const runs = await hactl(['group', 'ar-runs', 'cli-site']);
    expect(runs.stdout).toMatch(/done\s+1\s+1 passed/);
    await c.waitState('running');
    expect((await c.api('DELETE', `/api/v1/groups/${g.body.id}`)).status).toBe(204);
  });

  it('ar: schedules, a test run now with --wait (a failed check is exit 4), results', async () => {
    const schedules = await hactl(['ar', 'schedules']);
    expect(schedules.code).toBe(0);
    expect(schedules.stdout).toMatch(/orders\s+running\s+none\s+no/);
    const plan = await hactl(['ar', 'test', 'orders', '--reason', 'drill', '--dry-run']);
    expect(plan.code).toBe(0);
    expect(plan.stdout).toMatch(/DRY RUN ar-test of orders: would run/);
    expect(plan.stdout).toMatch(/target: replica1/);
    const viewer = await token('viewer', 'cli-ar-viewer');
    const denied = await hactl(['ar', 'test', 'orders', '--reason', 'x'], viewer);
    expect(denied.code).toBe(1);
    expect(denied.stderr).toMatch(/403/);
    expect((await hactl(['ar', 'test', 'orders', '--reason', 'x', '--target', 'prod'])).code).toBe(1);

    const passed = await hactl(['ar', 'test', 'orders', '--reason', 'quarterly drill', '--wait']);
    expect(passed.code).toBe(0);
    expect(passed.stdout).toMatch(/ar-test\s+succeeded/);
    expect(passed.stdout).toMatch(/AR result: passed/);
    expect(c.actionsLog(c.replica).some((l) => l.startsWith('ar-check'))).toBe(true);
    expect(c.actionsLog(c.production).some((l) => l.startsWith('ar-'))).toBe(false);

    writeFileSync(join(c.replica.dir, 'ar-check.exit'), '1');
    try {
      const failed = await hactl(['ar', 'test', 'orders', '--reason', 'drill 2', '--wait', '--json']);
      expect(failed.code).toBe(4);
      expect(JSON.parse(failed.stdout)).toMatchObject({ type: 'ar-test', arResult: 'failed' });
    } finally {
      rmSync(join(c.replica.dir, 'ar-check.exit'));
    }
    await c.waitState('running');
    const results = JSON.parse((await hactl(['ar', 'results', 'orders', '--json'])).stdout);
    // newest first: this test's failed and passed runs, then the group AR run's (groups test)
    expect(results.map((r: { arResult: string }) => r.arResult)).toEqual(['failed', 'passed', 'passed']);
    const text = await hactl(['ar', 'tests', 'orders', '--limit', '1']);
    expect(text.stdout).toMatch(/failed\s+replica1/);
    expect(text.stdout).not.toMatch(/passed/);
    expect((await hactl(['ar', 'results', 'orders', '--limit', '0'])).code).toBe(2);
  });

  it('maintenance: create (alias), show, end; an unknown window is exit 1', async () => {
    const created = await hactl([
      'maintenance',
      'create',
      '--scenario',
      'orders',
      '--for',
      '30m',
      '--reason',
      'CHG-2',
      '--json',
    ]);
    expect(created.code).toBe(0);
    const id = JSON.parse(created.stdout).window.id;
    const shown = await hactl(['maintenance', 'show', id]);
    expect(shown.stdout).toMatch(new RegExp(`${id}\\s+active\\s+scenario orders`));
    expect(JSON.parse((await hactl(['maintenance', 'show', id, '--json'])).stdout).scopeType).toBe(
      'scenario',
    );
    const missing = await hactl(['maintenance', 'show', '00000000-0000-4000-8000-000000000000']);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toMatch(/404/);
    expect((await hactl(['maintenance', 'end', id, '--reason', 'done'])).code).toBe(0);
    expect((await c.api('GET', `/api/v1/maintenance/${id}`)).body.state).toBe('ended');
  });

  it('alerts: list firing ones (table and JSON), all states, show one; bad usage is exit 2, unknown id exit 1', async () => {
    const alerter = (await c.api('POST', '/api/v1/tokens', { name: 'cli-alerter', role: 'alerter' })).body
      .token;
    const post = await fetch(`${c.o.url}/api/v1/alerts`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${alerter}` },
      body: JSON.stringify({
        alerts: [
          { name: 'CliDiskFull', status: 'firing', node: 'replica1', severity: 'warning', id: 'cli-disk' },
          { name: 'CliGone', status: 'resolved', node: 'replica1', id: 'cli-gone' },
        ],
      }),
    });
    expect(post.status).toBe(200);
    const listed = await hactl(['alerts']);
    expect(listed.code).toBe(0);
    expect(listed.stdout).toMatch(/firing\s+CliDiskFull\s+warning\s+cli-alerter\s+node replica1/);
    expect(listed.stdout).not.toMatch(/CliGone/);
    const all = JSON.parse((await hactl(['alerts', 'list', '--state', 'all', '--json'])).stdout) as any[];
    expect(all.map((a) => a.name).sort()).toEqual(expect.arrayContaining(['CliDiskFull', 'CliGone']));
    const id = all.find((a) => a.name === 'CliDiskFull').id;
    const shown = await hactl(['alert', 'show', id]);
    expect(shown.stdout).toMatch(/labels: \{\}/);
    expect((await hactl(['alerts', '--node', 'replica1', '--json'])).stdout).toMatch(/CliDiskFull/);
    expect((await hactl(['alerts', '--state', 'burning'])).code).toBe(2);
    expect((await hactl(['alerts', 'show', '00000000-0000-4000-8000-000000000000'])).code).toBe(1);
    // the alerter token reads nothing
    const asAlerter = await hactl(['alerts'], alerter);
    expect(asAlerter.code).toBe(1);
    expect(asAlerter.stderr).toMatch(/403/);
  });

  it('webhooks: create, list, show, ping, deliveries, redeliver, delete (admin only)', async () => {
    const received: { headers: IncomingMessage['headers']; body: any }[] = [];
    const receiver: Server = createServer((req, res) => {
      let body = '';
      req.on('data', (d: Buffer) => (body += d.toString()));
      req.on('end', () => {
        received.push({ headers: req.headers, body: JSON.parse(body) });
        res.writeHead(204).end();
      });
    });
    await new Promise<void>((r) => receiver.listen(0, '127.0.0.1', r));
    const dir = mkdtempSync(join(tmpdir(), 'hactl-secret-'));
    try {
      const url = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}/hook`;
      writeFileSync(join(dir, 'secret'), 'a-secret-of-at-least-16\n', { mode: 0o600 });
      const created = await hactl([
        'webhook',
        'create',
        'noc-pager',
        url,
        '--kinds',
        'ping,alert',
        '--scenario',
        'orders',
        '--secret-file',
        join(dir, 'secret'),
        '--max-attempts',
        '3',
      ]);
      expect(created.code).toBe(0);
      expect(created.stdout).toMatch(/webhook noc-pager created/);
      const hook = (await c.api('GET', '/api/v1/webhooks')).body.items.find(
        (w: { name: string }) => w.name === 'noc-pager',
      );
      expect(hook).toMatchObject({
        url,
        kinds: ['ping', 'alert'],
        scenarioId: c.scenarioId,
        secretSet: true,
      });
      expect(hook.maxAttempts).toBe(3);
      const bad = await hactl(['webhook', 'create', 'bad', 'ftp://example.com/h']);
      expect(bad.code).toBe(1);
      expect(bad.stderr).toMatch(/400.*url/);
      expect((await hactl(['webhook', 'create', 'x', url, '--max-attempts', 'many'])).code).toBe(2);

      expect((await hactl(['webhook', 'list'])).stdout).toMatch(/noc-pager\s+\S+\s+yes\s+yes\s+ping,alert/);
      expect(JSON.parse((await hactl(['webhook', 'show', 'noc-pager', '--json'])).stdout).id).toBe(hook.id);
      const operator = await token('operator', 'cli-hook-operator');
      const denied = await hactl(['webhook', 'list'], operator);
      expect(denied.code).toBe(1);
      expect(denied.stderr).toMatch(/403/);

      const ping = JSON.parse((await hactl(['webhook', 'ping', 'noc-pager', '--json'])).stdout);
      expect(ping.kind).toBe('ping');
      await waitFor('the ping delivered', async () => received.length === 1, 20000);
      expect(received[0].headers['x-ha-signature']).toBeDefined();
      const delivered = await waitFor(
        'the delivery logged as succeeded',
        async () => {
          const r = await hactl(['webhook', 'deliveries', 'noc-pager', '--state', 'succeeded', '--json']);
          const items = JSON.parse(r.stdout).items;
          return items.length ? items : null;
        },
        20000,
      );
      expect(delivered).toEqual([expect.objectContaining({ id: ping.id, responseStatus: 204 })]);
      expect(
        JSON.parse((await hactl(['webhook', 'deliveries', 'noc-pager', '--state', 'dead', '--json'])).stdout)
          .items,
      ).toEqual([]);
      expect((await hactl(['webhook', 'deliveries', 'noc-pager', '--state', 'bogus'])).code).toBe(1);
      const again = await hactl(['webhook', 'redeliver', 'noc-pager', ping.id, '--reason', 'receiver fixed']);
      expect(again.code).toBe(0);
      await waitFor('the redelivery', async () => received.length === 2, 20000);
      expect(received[1].headers['x-ha-event-id']).toBe(received[0].headers['x-ha-event-id']);
      expect(
        (await hactl(['webhook', 'redeliver', 'noc-pager', '00000000-0000-4000-8000-000000000000'])).code,
      ).toBe(1);

      expect((await hactl(['webhook', 'delete', 'noc-pager'])).code).toBe(0);
      expect((await c.api('GET', `/api/v1/webhooks/${hook.id}`)).status).toBe(404);
      const gone = await hactl(['webhook', 'show', hook.id]);
      expect(gone.code).toBe(1);
      expect(gone.stderr).toMatch(/404/);
    } finally {
      receiver.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('reports: audit and events CSV to stdout or a file, availability as a table, JSON or CSV', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'hactl-report-'));
    try {
      const file = join(dir, 'audit.csv');
      const written = await hactl(['report', 'audit', '-o', file, '--json']);
      expect(written.code).toBe(0);
      expect(JSON.parse(written.stdout)).toMatchObject({ file });
      const audit = readFileSync(file, 'utf8');
      expect(audit.split('\r\n')[0].replace(/^\uFEFF/, '')).toBe(
        'id,at,actor,action,targetType,targetId,reason,requestId,details',
      );
      expect(audit).toMatch(/CHG-7 site move/);
      expect(existsSync(`${file}.part`)).toBe(false);
      const events = await hactl([
        'report',
        'events',
        '--scenario',
        'orders',
        '--kinds',
        'operation-succeeded',
      ]);
      expect(events.code).toBe(0);
      const lines = events.stdout.trim().split(/\r?\n/);
      expect(lines[0].replace(/^\uFEFF/, '')).toBe('id,at,kind,severity,scenarioId,nodeId,message,details');
      expect(lines.length).toBeGreaterThan(3);
      expect(lines.slice(1).every((l) => l.includes('operation-succeeded'))).toBe(true);
      expect((await hactl(['report', 'events', '--json'])).code).toBe(2);
      const viewer = await token('viewer', 'cli-report-viewer');
      const denied = await hactl(['report', 'audit'], viewer);
      expect(denied.code).toBe(1);
      expect(denied.stderr).toMatch(/403/);
      expect((await hactl(['report', 'events', '--from', 'yesterday'])).code).toBe(1);

      const table = await hactl(['report', 'availability']);
      expect(table.code).toBe(0);
      expect(table.stdout).toMatch(/^name\s+availability%/m);
      expect(table.stdout).toMatch(/^orders\s+/m);
      const from = new Date(Date.now() - 3600_000).toISOString();
      const json = JSON.parse((await hactl(['report', 'availability', '--from', from, '--json'])).stdout);
      expect(json.since).toBe(from);
      expect(json.scenarios).toEqual([expect.objectContaining({ name: 'orders' })]);
      expect(json.scenarios[0].switchovers).toBeGreaterThanOrEqual(1);
      // the ar test's two, and the group AR run's one (groups test)
      expect(json.scenarios[0].arTests).toMatchObject({ total: 3, passed: 2 });
      const csv = await hactl(['report', 'availability', '--format', 'csv', '--scenario', 'orders']);
      expect(csv.stdout.split(/\r?\n/)[1]).toMatch(/orders/);
      expect((await hactl(['report', 'availability', '--format', 'xml'])).code).toBe(2);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
