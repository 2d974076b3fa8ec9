/**
 * One chaos round: fault → heal everything → settle (every operation ended; a failed-over scenario
 * failed back, which is the round's manual operation) → check every invariant and the fault's
 * expectation. The world used by the runner and by the CI suite: two orchestrators, a production
 * and a replica host, one automatic scenario.
 */
import { waitFor } from '../support/orchestrator';
import { Fault, FaultContext, Rng } from './faults';
import { checkWorld, serviceStops, Violation } from './invariants';
import { ACTIONS, ChaosWorld, operationEnded, WorldHost, WorldOptions } from './world';

export const INTERVAL_MS = 300;
export const TTL_MS = 8 * INTERVAL_MS;
export const LEASE_MS = 12 * INTERVAL_MS;

/** Ports from `base`: HTTP base, base+1; DNS base-2960…; agents base-960; proxies base+10…; UDP base+50, base+51. */
export function chaosWorldOptions(label: string, base: number, udp = false): WorldOptions {
  return {
    label,
    httpPorts: [base, base + 1],
    dnsPorts: [base - 2960, base - 2959],
    ...(udp && { udpPorts: [base + 50, base + 51] }),
    agentPort: base - 960,
    proxyBasePort: base + 10,
    hosts: ['prod', 'replica'],
    scenarios: [{ name: 'orders', production: 'prod', replicas: ['replica'] }],
    heartbeatIntervalMs: INTERVAL_MS,
    ttlMs: TTL_MS,
    policy: { leaseMs: LEASE_MS },
  };
}

export interface RoundResult {
  fault: string;
  expect: string;
  /** what detection did: failover (automatic), none */
  outcome: 'failover' | 'none';
  violations: Violation[];
  notes: string[];
  ms: number;
}

/** A world built for rounds, with what the invariants need to know of its start. */
export class RoundWorld {
  readonly firstProduction = new Map<string, WorldHost>();
  constructor(readonly world: ChaosWorld) {}

  static async create(opts: WorldOptions): Promise<RoundWorld> {
    const world = new ChaosWorld(opts);
    try {
      await world.start();
    } catch (err) {
      await world.close();
      throw err;
    }
    const rw = new RoundWorld(world);
    for (const s of opts.scenarios)
      rw.firstProduction.set(world.scenarios.find((x) => x.name === s.name)!.id, world.host(s.production));
    return rw;
  }

  get scenario() {
    return this.world.scenarios[0];
  }

  async run(fault: Fault, rng: Rng, variant?: string): Promise<RoundResult> {
    const started = Date.now();
    const w = this.world;
    const prod = w.host('prod');
    const replica = w.host('replica');
    const notes: string[] = [];
    const ctx: FaultContext = {
      world: w,
      rng,
      prod,
      replica,
      scenario: this.scenario,
      ttlMs: TTL_MS,
      leaseMs: LEASE_MS,
      note: (m) => notes.push(m),
      dnsDuringFault: [],
      allowFailover: (why) => {
        expect = 'any';
        notes.push(`failover allowed: ${why}`);
      },
    };
    let expect: string = fault.expect;
    // A service its watchdog took down after the last round's settle had looked (a late self-fence
    // of that round's fault) belongs to that round: replaced before this one counts anything.
    for (const h of w.hosts) w.restartService(h);
    const beatsBefore = prod.service.beats().length;
    const replacedBefore = prod.replacedServices.length;
    const since = new Date(started - 1000).toISOString();
    const violations: Violation[] = [];
    try {
      await fault.run(ctx, variant);
    } catch (err) {
      violations.push({ invariant: 'round', detail: `fault ${fault.name} threw: ${(err as Error).message}` });
    }
    await this.healAll();
    const ops = await this.settle(violations);
    const autos = ops.filter((o) => o.trigger === 'auto' && o.createdAt >= since);
    const outcome = autos.some((o) => o.type === 'failover') ? 'failover' : 'none';
    if (expect === 'failover' && !autos.some((o) => o.type === 'failover' && o.state === 'succeeded')) {
      violations.push({
        invariant: 'real-failure-fails-over',
        detail: `no succeeded automatic failover after ${fault.name}`,
      });
    }
    if (expect === 'no-failover') {
      if (autos.length) {
        violations.push({
          invariant: 'no-false-failover',
          detail: `${autos.map((o) => `${o.type}:${o.state}`).join(', ')} while production stayed healthy`,
        });
      }
      if (
        prod.replacedServices.length > replacedBefore ||
        serviceStops(prod.service.beats().slice(Math.max(0, beatsBefore - 1)), true).length
      )
        violations.push({
          invariant: 'no-self-harm',
          detail: "production's service stopped during the round",
        });
    }
    const dead = ctx.dnsDuringFault.filter((a) => a.length === 0).length;
    if (dead > 1)
      violations.push({
        invariant: 'dns-answers',
        detail: `${dead} DNS queries unanswered during the fault`,
      });
    violations.push(...(await checkWorld(w, this.firstProduction)));
    return { fault: fault.name, expect, outcome, violations, notes, ms: Date.now() - started };
  }

  /** Undo every fault, whatever the round did: rules, signals, proxies, dead processes. */
  async healAll(): Promise<void> {
    const w = this.world;
    for (const h of w.hosts) {
      w.lab.heal(h.lab);
      for (const p of h.proxies) {
        p.setDelay(0);
        p.restore();
      }
      w.signalAgent(h, 'SIGCONT');
      for (const a of ACTIONS) w.setActionSleep(h, a, null);
    }
    w.pg.restore();
    w.redis.restore();
    for (let j = 0; j < w.orchestrators.length; j++) {
      w.orchestrators[j]?.child.kill('SIGCONT');
      await w.restartOrchestrator(j);
    }
    for (const h of w.hosts) {
      if (h.skewMs !== 0) w.setClockSkew(h, 0);
      if (!w.agentRunning(h)) w.startAgent(h);
    }
    for (const h of w.hosts) await w.waitAgentUp(h, 30000);
  }

  /**
   * Back to the starting shape: wait for every operation to end; a scenario left failed over (after
   * a failover or the switchover of a step fault) gets its stopped services back and is failed back.
   * Returns the scenario's operations.
   */
  private async settle(violations: Violation[]): Promise<any[]> {
    const w = this.world;
    const s = this.scenario;
    const idle = async () => {
      const ops = await w.operations(s.id);
      return ops.every(operationEnded) ? ops : null;
    };
    for (const h of w.hosts) w.restartService(h);
    // Verdicts first: a failure the detector is about to act on has its operation by the time the
    // node is healthy again (recovery takes recoveryHoldMs), so the wait below sees it.
    await this.waitHealthy(w.host('prod'));
    await this.waitHealthy(w.host('replica'));
    await waitFor('operations to end', idle, 90000, 250).catch(() => undefined);
    const sc = await w.scenario(s.id);
    if (sc.state === 'degraded') {
      const failed = (await w.operations(s.id)).find((o) => o.state === 'failed');
      violations.push({
        invariant: 'not-degraded',
        detail: `degraded after ${failed?.type}: ${failed?.error}`,
      });
    }
    if (sc.state === 'failed_over' || sc.state === 'degraded') {
      await this.waitHealthy(w.host('prod'));
      await this.waitHealthy(w.host('replica'));
      let r = await w.api('POST', `/api/v1/scenarios/${s.id}/failback`, { reason: 'chaos round reset' });
      for (let i = 0; i < 20 && r.status === 409; i++) {
        await new Promise((res) => setTimeout(res, 500));
        r = await w.api('POST', `/api/v1/scenarios/${s.id}/failback`, { reason: 'chaos round reset' });
      }
      if (r.status !== 202) {
        violations.push({
          invariant: 'round',
          detail: `failback refused: ${r.status} ${JSON.stringify(r.body)}`,
        });
      } else {
        const op = await w.waitOperationEnd(r.body.id, 60000).catch(() => null);
        if (op?.state !== 'succeeded') {
          violations.push({
            invariant: 'round',
            detail: `failback ${op?.state ?? 'did not end'}: ${op?.error ?? ''}`,
          });
        }
      }
    }
    await this.waitHealthy(w.host('prod'));
    await this.waitHealthy(w.host('replica'));
    // The failback may have promoted a node whose service its watchdog killed while settling.
    for (const h of w.hosts) w.restartService(h);
    const after = await w.scenario(s.id);
    if (after.state !== 'running' || after.activeNodeId !== w.host('prod').id) {
      violations.push({
        invariant: 'round',
        detail: `not restored: ${after.state}, active ${after.activeNodeId}`,
      });
    }
    return (await idle()) ?? (await w.operations(s.id));
  }

  private async waitHealthy(h: WorldHost): Promise<void> {
    await waitFor(
      `${h.name} healthy`,
      async () => (await this.world.api('GET', `/api/v1/nodes/${h.id}/health`)).body?.verdict === 'healthy',
      30000,
      200,
    ).catch(() => undefined);
  }

  close(): Promise<void> {
    return this.world.close();
  }
}

export function formatRound(i: number, seed: number, r: RoundResult): string {
  const verdict = r.violations.length
    ? `VIOLATION ${r.violations.map((v) => `[${v.invariant}] ${v.detail}`).join('; ')}`
    : 'ok';
  const notes = r.notes.length ? ` (${r.notes.join('; ')})` : '';
  return `round ${i} seed=${seed} fault=${r.fault}${notes} expect=${r.expect} outcome=${r.outcome} ${(r.ms / 1000).toFixed(1)}s ${verdict}`;
}
