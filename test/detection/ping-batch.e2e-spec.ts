/**
 * Batched ping checks through the real fping: loopback targets (127.0.0.x) from this namespace,
 * and, for targets that never answer and names that never resolve, a network namespace this test
 * creates (only `lo` and a veth pair, one end 10.77.0.1/24, in it: 10.77.0.2 is routable and silent,
 * and no name server is reachable). The namespace is removed afterwards, also on failure.
 * Needs root (ip netns), like the chaos suite.
 */
import { execFileSync } from 'node:child_process';
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { findFping, FpingBatcher } from '../../apps/orchestrator/src/detection/ping-batch';
import { runProbe } from '../../apps/orchestrator/src/detection/probes';
import { pingerFor } from '../../apps/orchestrator/src/detection/detector.service';
import { ScenarioCheck } from '../../apps/orchestrator/src/scenarios/scenario.types';

const fping = findFping();
const ns = `hpt${randomBytes(3).toString('hex')}`;
const dir = mkdtempSync(join(tmpdir(), 'ping-batch-'));
/** fping inside the test's namespace */
const nsFping = join(dir, 'fping-in-ns');
/** an "fping" that never ends */
const wedged = join(dir, 'fping-wedged');
const check: ScenarioCheck = {
  name: 'ping',
  kind: 'ping',
  intervalMs: 1000,
  timeoutMs: 500,
  failureThreshold: 1,
  recoveryThreshold: 1,
};

beforeAll(() => {
  if (!fping) throw new Error('fping is not installed (apt-get install fping; .ci/run does)');
  execFileSync('ip', ['netns', 'add', ns]);
  execFileSync('ip', ['-n', ns, 'link', 'set', 'lo', 'up']);
  // A veth pair with both ends inside: ARP for 10.77.0.2 reaches the other end, which has no address.
  execFileSync('ip', ['-n', ns, 'link', 'add', 'p0', 'type', 'veth', 'peer', 'name', 'p1']);
  execFileSync('ip', ['-n', ns, 'addr', 'add', '10.77.0.1/24', 'dev', 'p0']);
  execFileSync('ip', ['-n', ns, 'link', 'set', 'p0', 'up']);
  execFileSync('ip', ['-n', ns, 'link', 'set', 'p1', 'up']);
  writeFileSync(nsFping, `#!/bin/sh\nexec ip netns exec ${ns} ${fping} "$@"\n`);
  writeFileSync(wedged, '#!/bin/sh\nexec sleep 60\n');
  chmodSync(nsFping, 0o755);
  chmodSync(wedged, 0o755);
});

afterAll(() => {
  try {
    execFileSync('ip', ['netns', 'del', ns]);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

describe('FpingBatcher (real fping)', () => {
  it('probes due together share one fping process; each gets its own answer', async () => {
    const b = new FpingBatcher(fping!);
    const targets = Array.from({ length: 60 }, (_, i) => `127.0.0.${i + 1}`);
    // The same address twice in one batch shares its reply.
    const results = await Promise.all([...targets, '127.0.0.1'].map((t) => b.ping(t, 1000)));
    expect(b.spawned).toBe(1);
    for (const r of results) {
      expect(r.alive).toBe(true);
      expect(r.output).toMatch(/^rtt [\d.]+ ms$/);
      expect(r.rttMs).toBeGreaterThanOrEqual(0);
    }
  });

  it('a batch holds at most maxTargets targets; different timeouts go in different batches; a batch waiting for a process takes more', async () => {
    const b = new FpingBatcher(fping!, { maxTargets: 25 });
    const targets = Array.from({ length: 60 }, (_, i) => `127.0.1.${i + 1}`);
    const results = await Promise.all([...targets.map((t) => b.ping(t, 1000)), b.ping('127.0.2.1', 700)]);
    expect(b.spawned).toBe(4); // 25 + 25 + 10, and the 700 ms one
    expect(results.every((r) => r.alive)).toBe(true);
    // One process at a time: while the first batch (a silent target) runs, later probes join the
    // one batch that waits, instead of one batch per window.
    const one = new FpingBatcher(nsFping, { maxProcesses: 1, windowMs: 5 });
    const first = one.ping('10.77.0.2', 400);
    await new Promise((r) => setTimeout(r, 50));
    const later: Promise<unknown>[] = [];
    for (let i = 0; i < 5; i++) {
      later.push(one.ping('10.77.0.1', 400));
      await new Promise((r) => setTimeout(r, 20));
    }
    await Promise.all([first, ...later]);
    expect(one.spawned).toBe(2);
  });

  it('a silent target is critical after its timeout while the others in its batch are ok', async () => {
    const b = new FpingBatcher(nsFping);
    const started = Date.now();
    const [silent, up, unknownName] = await Promise.all([
      b.ping('10.77.0.2', 400),
      b.ping('10.77.0.1', 400),
      b.ping('no-such-host.invalid', 400),
    ]);
    expect(b.spawned).toBe(1);
    expect(silent).toEqual({ alive: false, output: 'no reply' });
    expect(up.alive).toBe(true);
    expect(unknownName.alive).toBeNull();
    expect(unknownName.output).toMatch(/^no-such-host\.invalid: /);
    // One request each: the batch ends soon after the 400 ms timeout, not after retries.
    expect(Date.now() - started).toBeLessThan(3000);
  });

  it('refuses a target that is not an address or host name without running anything', async () => {
    const b = new FpingBatcher(fping!);
    for (const bad of ['-h', '--version', 'a b', '', '127.0.0.1;id', '$(id)']) {
      const r = await b.ping(bad, 500);
      expect(r.alive).toBeNull();
      expect(r.output).toMatch(/^not a ping target/);
    }
    expect(b.spawned).toBe(0);
  });

  it('a wedged fping is killed after timeout + grace and its targets are unknown (never a node failure)', async () => {
    const b = new FpingBatcher(wedged);
    const started = Date.now();
    const r = await b.ping('127.0.0.1', 100);
    expect(r.alive).toBeNull();
    expect(r.output).toMatch(/^fping failed \(SIGKILL\)/);
    expect(Date.now() - started).toBeLessThan(6000);
  });

  it('a missing binary: every probe is unknown with the reason; PING_MODE decides at start-up', async () => {
    const r = await new FpingBatcher(join(dir, 'absent')).ping('127.0.0.1', 500);
    expect(r.alive).toBeNull();
    expect(r.output).toMatch(/^fping could not run: .*ENOENT/);
    expect(() => pingerFor('fping', join(dir, 'absent'))).toThrow(/PING_MODE=fping but no fping/);
    expect(pingerFor('auto', join(dir, 'absent'))).toBeNull();
    expect(pingerFor('ping')).toBeNull();
    expect(pingerFor('auto')).toBeInstanceOf(FpingBatcher);
  });
});

describe('runProbe with the batched pinger', () => {
  it('ok with the rtt for an answering target, critical for a silent one', async () => {
    const b = new FpingBatcher(nsFping);
    const [up, down] = await Promise.all([
      runProbe(check, { address: '10.77.0.1' }, { pinger: b }),
      runProbe(check, { address: '10.77.0.2' }, { pinger: b }),
    ]);
    expect(up).toMatchObject({ status: 'ok', output: expect.stringMatching(/^rtt /) });
    expect(down).toMatchObject({ status: 'critical', output: 'no reply' });
    expect(down.durationMs).toBeGreaterThanOrEqual(400);
    expect(b.spawned).toBe(1);
  });
});
