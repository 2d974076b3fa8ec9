/**
 * A user-defined check: the scenario names `app`, each agent's own config runs a script whose exit
 * code the test sets through a file. The node stays reachable (its replica peer still hears it), so
 * this is the "node says its service is dead" case, not a partition.
 * Real agents on 127.0.0.91-92 (port 17910), DNS on 15910.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { writeScript } from '../../libs/testing/src/agent-harness';
import { Cluster } from '../support/cluster';
import { waitFor } from '../support/orchestrator';
import { check, events, health, waitHealth, watchVerdicts } from './detection-helpers';

const INTERVAL = 300;
const dir = mkdtempSync(join(tmpdir(), 'ha-usercheck-'));
const codeFile = (node: string) => join(dir, `${node}.code`);
/** `hang` makes the script outlive its 500 ms timeout. */
const setExit = (node: string, code: '0' | '1' | '2' | 'hang') => writeFileSync(codeFile(node), code);
const script = writeScript(
  dir,
  'app-check.sh',
  'code=$(cat "$1")\n' +
    'if [ "$code" = hang ]; then sleep 60; fi\n' +
    'echo "app check says $code"\n' +
    'exit "$code"',
);

describe('detection: user-defined checks relayed by the agent', () => {
  setExit('prod', '0');
  setExit('replica1', '0');
  const c = new Cluster({
    label: 'detusercheck',
    addressPrefix: '127.0.0.9',
    agentPort: 17910,
    dnsPort: 15910,
    failoverMode: 'manual',
    heartbeatIntervalMs: INTERVAL,
    checks: [
      { name: 'heartbeat', kind: 'heartbeat', intervalMs: INTERVAL, ttlMs: 4 * INTERVAL },
      { name: 'app', kind: 'user', agentCheck: 'app', failureThreshold: 2, recoveryThreshold: 2 },
    ],
    policy: { recoveryHoldMs: 1000 },
    agentExtra: (name) => ({
      checks: [{ name: 'app', command: script, args: [codeFile(name)], timeoutMs: 500, intervalMs: 200 }],
    }),
  });

  const alerts = async () => events(c, `scenarioId=${c.scenarioId}&kind=alert`);

  beforeAll(async () => {
    await c.start();
  });
  afterAll(async () => {
    await c.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('exit 2 → the node reports itself critical → failed although its peer still reaches it; alert (manual)', async () => {
    await waitHealth(c, c.production, 'healthy with app passing', (h) => {
      return h.verdict === 'healthy' && check(h, 'app')?.state === 'passing';
    });
    setExit('prod', '2');
    const h = await waitHealth(c, c.production, 'failed', (x) => x.verdict === 'failed');
    expect(check(h, 'app')).toMatchObject({ kind: 'user', state: 'failing', lastStatus: 'critical' });
    expect(check(h, 'app')!.lastOutput).toMatch(/app check says 2/);
    expect(check(h, 'heartbeat')!.state).toBe('passing');
    // The replica still hears production: with reachability alone this would only be suspect.
    expect(h.evidence!.observers).toEqual([
      expect.objectContaining({ observer: 'replica1', reachable: true }),
    ]);
    expect(h.evidence!.reason).toMatch(/reports its own check\(s\) app critical/);

    const a = await waitFor('an alert', async () => ((await alerts()).length === 1 ? alerts() : null));
    expect(a[0]).toMatchObject({ severity: 'critical', nodeId: c.production.id });
    expect((await c.operations()).map((o) => o.type)).toEqual(['start']);
  });

  it('exit 0 again → healthy after the recovery threshold and the hold-down', async () => {
    setExit('prod', '0');
    const h = await waitHealth(c, c.production, 'healthy', (x) => x.verdict === 'healthy');
    expect(check(h, 'app')).toMatchObject({ state: 'passing', lastStatus: 'ok' });
  });

  it('exit 1 → warning: the check shows it, the verdict stays healthy, no alert', async () => {
    setExit('prod', '1');
    const h = await waitHealth(c, c.production, 'app warning', (x) => check(x, 'app')?.state === 'warning');
    expect(check(h, 'app')).toMatchObject({ lastStatus: 'warning', consecutiveFailures: 0 });
    expect(await watchVerdicts(c, c.production, 1500)).toEqual(['healthy']);
    expect(await alerts()).toHaveLength(1);
  });

  it('a hanging script (timeout 500 ms) → timed out → critical → failed; in auto mode a failover runs', async () => {
    setExit('prod', 'hang');
    const h = await waitHealth(c, c.production, 'failed', (x) => x.verdict === 'failed');
    expect(check(h, 'app')).toMatchObject({ state: 'failing', lastStatus: 'critical' });
    expect(check(h, 'app')!.lastOutput).toMatch(/timed out after 500 ms/);
    await waitFor('a second alert', async () => (await alerts()).length === 2);

    // The same verdict in auto mode requests a failover, which moves users to the replica.
    const patched = await c.api('PATCH', `/api/v1/scenarios/${c.scenarioId}`, { failoverMode: 'auto' });
    expect(patched.status).toBe(200);
    await waitFor('failover requested', async () => {
      return (await events(c, `scenarioId=${c.scenarioId}&kind=failover-requested`)).length === 1;
    });
    const op = (await c.operations()).find((o) => o.type === 'failover');
    expect(op).toMatchObject({ trigger: 'auto' });
    expect(await c.waitOperation(op.id)).toMatchObject({ state: 'succeeded' });
    await c.waitDns(c.replica.address);
    expect((await health(c, c.replica)).verdict).toBe('healthy');
  });
});
