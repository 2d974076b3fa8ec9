/**
 * The fault-injection suite as CI runs it: every fault of the catalogue once against one live world
 * (two orchestrators; production and replica agents in network namespaces), then a few seeded
 * random rounds (CHAOS_SEED, CHAOS_ROUNDS), then the storm brake with several hosts failing at once.
 * Each round heals, settles and checks every invariant (test/chaos/invariants.ts). Longer runs:
 * `npm run test:chaos -- --rounds N --seed S`.
 */
import { waitFor } from '../support/orchestrator';
import { FAULTS, rngFor } from './faults';
import { checkWorld } from './invariants';
import { chaosWorldOptions, formatRound, RoundWorld, TTL_MS } from './rounds';
import { ChaosWorld, WorldHost } from './world';

const SEED = Number(process.env.CHAOS_SEED ?? 20261203);
const RANDOM_ROUNDS = Number(process.env.CHAOS_ROUNDS ?? 4);

/** Runs fault number `i` of the catalogue as round `round`, prints its line, and asserts it. */
async function round(rw: RoundWorld, i: number, roundNo: number): Promise<void> {
  const r = await rw.run(FAULTS[i], rngFor(SEED, roundNo));
  let line = formatRound(roundNo, SEED, r);
  // Keep what CI saw: the logs, operations and action logs of a round that broke an invariant.
  if (r.violations.length > 0)
    line += `\n  logs: ${await rw.world.saveDiagnostics(`/tmp/chaos-ci-${SEED}-${roundNo}`).catch((e: Error) => e.message)}`;
  console.log(line);
  expect(r.violations).toEqual([]);
  if (r.expect === 'failover') expect(r.outcome).toBe('failover');
  if (r.expect === 'no-failover') expect(r.outcome).toBe('none');
}

describe('fault injection: every fault once, then seeded rounds', () => {
  let rw: RoundWorld;

  beforeAll(async () => {
    rw = await RoundWorld.create(chaosWorldOptions('chaosci', 18400));
  }, 120000);

  afterAll(async () => {
    await rw?.close();
  });

  it.each(FAULTS.map((f, i) => [f.name, i] as const))(
    '%s: invariants hold and detection does what the fault calls for',
    (_name, i) => round(rw, i, i),
    180000,
  );

  it(`${RANDOM_ROUNDS} seeded random rounds (seed ${SEED}) break no invariant`, async () => {
    const lines: string[] = [];
    for (let i = 1000; i < 1000 + RANDOM_ROUNDS; i++) {
      const rng = rngFor(SEED, i);
      const r = await rw.run(rng.pick(FAULTS), rng);
      lines.push(formatRound(i, SEED, r));
      if (r.violations.length) lines.push(`  replay: npm run test:chaos -- --seed ${SEED} --round ${i}`);
    }
    console.log(lines.join('\n'));
    expect(lines.filter((l) => l.includes('VIOLATION'))).toEqual([]);
  }, 900000);
});

describe('fault injection with UDP heartbeats', () => {
  let rw: RoundWorld;
  const faults = [
    'kill-prod-agent',
    'stop-prod-agent-short',
    'partition-prod',
    'cut-prod-from-orchestrators',
    'loss-40-prod',
    'loss-40-replica',
  ];

  beforeAll(async () => {
    rw = await RoundWorld.create(chaosWorldOptions('chaosudp', 18700, true));
  }, 120000);

  afterAll(async () => {
    await rw?.close();
  });

  it.each(faults)(
    '%s',
    (name) => {
      const i = FAULTS.findIndex((f) => f.name === name);
      return round(rw, i, 2000 + i);
    },
    180000,
  );
});

describe('storm brake: three production hosts fail at once', () => {
  let w: ChaosWorld;

  beforeAll(async () => {
    w = new ChaosWorld({
      label: 'chaosstorm',
      httpPorts: [18450, 18451],
      dnsPorts: [15490, 15491],
      agentPort: 17490,
      proxyBasePort: 18460,
      hosts: ['a', 'b', 'd', 'spare'],
      scenarios: ['a', 'b', 'd'].map((h) => ({ name: `svc-${h}`, production: h, replicas: ['spare'] })),
      heartbeatIntervalMs: 300,
      ttlMs: TTL_MS,
      orchestratorEnv: { STORM_MAX_FAILOVERS: '2', STORM_WINDOW_MS: '600000' },
    });
    await w.start();
  }, 180000);

  afterAll(async () => {
    await w?.close();
  });

  it('fails over as many as configured, holds the rest, and never gives two actives', async () => {
    const prods = ['a', 'b', 'd'].map((n) => w.host(n));
    const first = new Map<string, WorldHost>(w.scenarios.map((s, k) => [s.id, prods[k]]));
    for (const h of prods) w.lab.inject(h.lab, { kind: 'partition' });
    const brake = await waitFor(
      'storm brake engaged',
      async () => {
        const s = await w.api('GET', '/api/v1/storm-brake');
        return s.body?.engaged ? s.body : null;
      },
      60000,
      200,
    );
    expect(brake.recentIncidents).toBeGreaterThanOrEqual(2);
    // Give the detector time to (wrongly) act on the third host.
    await new Promise((r) => setTimeout(r, 5000));
    const autos = await waitFor(
      'the allowed failovers to end',
      async () => {
        const ops = (await Promise.all(w.scenarios.map((s) => w.operations(s.id)))).flat();
        const a = ops.filter((o) => o.trigger === 'auto' && o.type === 'failover');
        return a.length && a.every((o) => o.state === 'succeeded' || o.state === 'failed') ? a : null;
      },
      60000,
      250,
    );
    expect(autos).toHaveLength(2);
    expect(autos.every((o) => o.state === 'succeeded')).toBe(true);
    const states = await Promise.all(w.scenarios.map(async (s) => (await w.scenario(s.id)).state));
    expect(states.filter((s) => s === 'failed_over')).toHaveLength(2);
    expect(states.filter((s) => s === 'running')).toHaveLength(1);
    for (const h of prods) w.lab.heal(h.lab);
    expect(await checkWorld(w, first)).toEqual([]);
  }, 180000);
});
