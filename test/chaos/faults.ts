/**
 * The fault catalogue. Each fault breaks the world one way, waits, and heals what it broke itself
 * (the round heals everything again afterwards, whatever happened). `expect` is what detection must
 * do: `failover` (a real failure: an automatic failover must happen and succeed), `no-failover`
 * (production stayed healthy and reachable by a quorum: no automatic failover, production's
 * service never stopped), or `any` (either is correct; the invariants still hold).
 * Faults that run a manual switchover break the world while one of its steps is running.
 */
import { STEP_PLANS } from '../../apps/orchestrator/src/operations/operation-plans';
import { waitFor } from '../support/orchestrator';
import { ChaosWorld, operationEnded, WorldHost, WorldScenario } from './world';

export type Expectation = 'failover' | 'no-failover' | 'any';

export interface Rng {
  (): number;
  int(lo: number, hi: number): number;
  pick<T>(xs: readonly T[]): T;
}

/** mulberry32, seeded from (seed, round): the same pair always draws the same round. */
export function rngFor(seed: number, round: number): Rng {
  let a = (Math.imul(seed ^ 0x9e3779b9, 0x85ebca6b) ^ Math.imul(round + 1, 0xc2b2ae35)) >>> 0;
  const next = (() => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }) as Rng;
  next.int = (lo, hi) => lo + Math.floor(next() * (hi - lo + 1));
  next.pick = (xs) => xs[Math.floor(next() * xs.length)];
  return next;
}

export interface FaultContext {
  world: ChaosWorld;
  rng: Rng;
  prod: WorldHost;
  replica: WorldHost;
  scenario: WorldScenario;
  /** heartbeat TTL and lease of the world's scenarios (ms) */
  ttlMs: number;
  leaseMs: number;
  /** a line for the round's report */
  note(msg: string): void;
  /** DNS answers seen while the fault lasted (the fault samples them where it matters) */
  dnsDuringFault: string[][];
  /** the fault turned out to be a real failure after all (e.g. an agent restart longer than the TTL) */
  allowFailover(why: string): void;
}

export interface Fault {
  name: string;
  expect: Expectation;
  /** e.g. the step a fault lands in: a round draws one unless it is given (the runner's --each runs each) */
  variants?: readonly string[];
  run(ctx: FaultContext, variant?: string): Promise<void>;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Samples the DNS answer every 200 ms for `ms` (answers keep coming whatever else is down). */
async function holdAndSample(ctx: FaultContext, ms: number): Promise<void> {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    ctx.dnsDuringFault.push(await ctx.world.dnsAny(ctx.scenario.record));
    await sleep(200);
  }
}

/** Waits until an automatic failover of the scenario has succeeded (bounded: the round checks it). */
async function untilFailedOver(ctx: FaultContext, timeoutMs = 30000): Promise<void> {
  await waitFor(
    'failed over',
    async () => (await ctx.world.scenario(ctx.scenario.id))?.state === 'failed_over',
    timeoutMs,
    200,
  ).catch(() => ctx.note('no failed_over state within the wait'));
}

const link = (
  name: string,
  target: 'prod' | 'replica',
  expect: Expectation,
  fault: (ctx: FaultContext, h: WorldHost) => { apply(): void; ms: number },
): Fault => ({
  name,
  expect,
  async run(ctx) {
    const h = ctx[target];
    const f = fault(ctx, h);
    f.apply();
    try {
      await holdAndSample(ctx, f.ms);
    } finally {
      ctx.world.lab.heal(h.lab);
    }
  },
});

function stopAgent(
  name: string,
  target: 'prod' | 'replica',
  expect: Expectation,
  ms: (ctx: FaultContext) => number,
): Fault {
  return {
    name,
    expect,
    async run(ctx) {
      const h = ctx[target];
      const d = ms(ctx);
      ctx.note(`SIGSTOP ${d} ms`);
      ctx.world.signalAgent(h, 'SIGSTOP');
      try {
        await holdAndSample(ctx, d);
      } finally {
        ctx.world.signalAgent(h, 'SIGCONT');
      }
    },
  };
}

/**
 * An operation that moves users — a manual switchover, or the automatic failover after a kill -9 of
 * production's agent — and `during` breaks the world once step `step` has started, then heals. The
 * operation must still succeed.
 */
function duringStep(
  name: string,
  trigger: 'switchover' | 'failover',
  during: (ctx: FaultContext) => Promise<void>,
): Fault {
  const steps = STEP_PLANS[trigger]!;
  return {
    name,
    expect: trigger === 'failover' ? 'failover' : 'any',
    variants: steps,
    async run(ctx, variant) {
      const step = variant ?? ctx.rng.pick(steps);
      ctx.note(`${trigger}, fault at ${step}`);
      // Slow the step down so the fault lands inside it.
      const slowed = step === 'promote' ? ctx.replica : step === 'demote-active' ? ctx.prod : null;
      const action = step === 'promote' ? 'promote' : 'demote';
      if (slowed) ctx.world.setActionSleep(slowed, action, 1.5);
      let opId: string;
      if (trigger === 'switchover') {
        const r = await ctx.world.api('POST', `/api/v1/scenarios/${ctx.scenario.id}/switchover`, {
          reason: `chaos ${name}`,
        });
        if (r.status !== 202) throw new Error(`switchover refused: ${r.status} ${JSON.stringify(r.body)}`);
        opId = r.body.id;
      } else {
        const before = new Set((await ctx.world.operations(ctx.scenario.id)).map((o) => o.id));
        await ctx.world.killAgent(ctx.prod);
        opId = await waitFor(
          'automatic failover requested',
          async () =>
            (await ctx.world.operations(ctx.scenario.id)).find(
              (o) => !before.has(o.id) && o.type === 'failover',
            )?.id,
          30000,
          20,
        );
      }
      await waitFor(
        `step ${step} started`,
        async () => {
          const op = await ctx.world.operation(opId);
          const s = op?.steps?.find((x: any) => x.name === step);
          return (s && s.state !== 'pending') || operationEnded(op);
        },
        30000,
        20,
      );
      await during(ctx);
      if (slowed) ctx.world.setActionSleep(slowed, action, null);
      const op = await ctx.world.waitOperationEnd(opId);
      if (op.state !== 'succeeded') throw new Error(`${trigger} ${op.state} after the fault: ${op.error}`);
    },
  };
}

async function dependencyOutage(ctx: FaultContext, which: 'pg' | 'redis'): Promise<void> {
  const proxy = ctx.world[which];
  const ms = ctx.rng.int(1500, 5000);
  ctx.note(`${which} down ${ms} ms`);
  proxy.cut();
  try {
    await holdAndSample(ctx, ms);
  } finally {
    proxy.restore();
  }
}

export const FAULTS: Fault[] = [
  {
    name: 'kill-prod-agent',
    expect: 'failover',
    async run(ctx) {
      await ctx.world.killAgent(ctx.prod);
      await untilFailedOver(ctx);
    },
  },
  stopAgent('stop-prod-agent-short', 'prod', 'no-failover', (c) =>
    Math.round(c.ttlMs * (0.2 + 0.4 * c.rng())),
  ),
  stopAgent('stop-prod-agent-long', 'prod', 'failover', (c) => c.leaseMs + 4000),
  stopAgent(
    'stop-prod-agent-mid',
    'prod',
    'any',
    (c) => c.ttlMs + Math.round((c.leaseMs - c.ttlMs) * c.rng()),
  ),
  {
    name: 'kill-replica-agent',
    expect: 'no-failover',
    async run(ctx) {
      await ctx.world.killAgent(ctx.replica);
      await holdAndSample(ctx, ctx.rng.int(1000, 4000));
    },
  },
  stopAgent('stop-replica-agent', 'replica', 'no-failover', (c) => c.rng.int(1000, c.leaseMs + 2000)),
  link('partition-prod', 'prod', 'failover', (c, h) => ({
    apply: () => c.world.lab.inject(h.lab, { kind: 'partition' }),
    // Long enough for detection + the lease wait with margin for a loaded CI machine: one CI run
    // (2026-12-07, full suite on 2 cores) healed it at lease + 4 s before the failover was requested.
    ms: c.leaseMs + 6000,
  })),
  link('cut-prod-from-orchestrators', 'prod', 'no-failover', (c, h) => ({
    apply: () => c.world.lab.inject(h.lab, { kind: 'cut-from', ip: c.world.lab.rootIp }),
    ms: c.leaseMs * 2,
  })),
  link('partition-replica', 'replica', 'no-failover', (c, h) => ({
    apply: () => c.world.lab.inject(h.lab, { kind: 'partition' }),
    ms: c.leaseMs + 2000,
  })),
  link('one-way-prod-in', 'prod', 'any', (c, h) => ({
    apply: () => c.world.lab.inject(h.lab, { kind: 'drop-in' }),
    ms: c.rng.int(1000, c.leaseMs + 3000),
  })),
  link('one-way-prod-out', 'prod', 'any', (c, h) => ({
    apply: () => c.world.lab.inject(h.lab, { kind: 'drop-out' }),
    ms: c.rng.int(1000, c.leaseMs + 3000),
  })),
  ...(['prod', 'replica'] as const).flatMap((target) => [
    ...([0.1, 0.2, 0.4] as const).map((probability) =>
      link(`loss-${probability * 100}-${target}`, target, 'no-failover', (c, h) => {
        const direction = c.rng.pick(['both', 'in', 'out'] as const);
        c.note(direction === 'both' ? 'both ways' : direction === 'in' ? 'inbound only' : 'outbound only');
        return {
          apply: () => c.world.lab.inject(h.lab, { kind: 'loss', probability, direction }),
          ms: c.rng.int(5000, 10000),
        };
      }),
    ),
    {
      name: `jitter-${target}`,
      expect: 'no-failover' as const,
      async run(ctx: FaultContext) {
        const h = ctx[target];
        for (const p of h.proxies) p.setDelay(200, 100);
        try {
          await holdAndSample(ctx, ctx.rng.int(5000, 10000));
        } finally {
          for (const p of h.proxies) p.setDelay(0);
        }
      },
    },
  ]),
  {
    name: 'loss-then-kill-prod',
    expect: 'failover',
    async run(ctx) {
      const probability = ctx.rng.pick([0.1, 0.2, 0.4]);
      ctx.note(`loss ${probability * 100} % on both links, then kill -9 of production's agent`);
      ctx.world.lab.inject(ctx.prod.lab, { kind: 'loss', probability });
      ctx.world.lab.inject(ctx.replica.lab, { kind: 'loss', probability });
      try {
        await sleep(ctx.rng.int(1000, 3000));
        await ctx.world.killAgent(ctx.prod);
        await untilFailedOver(ctx, 45000);
      } finally {
        ctx.world.lab.heal(ctx.prod.lab);
        ctx.world.lab.heal(ctx.replica.lab);
      }
    },
  },
  {
    name: 'kill-orchestrator',
    expect: 'no-failover',
    async run(ctx) {
      const j = ctx.rng.int(0, ctx.world.orchestrators.length - 1);
      ctx.note(`orchestrator ${j}`);
      await ctx.world.killOrchestrator(j);
      await holdAndSample(ctx, ctx.rng.int(1000, 5000));
      await ctx.world.restartOrchestrator(j);
    },
  },
  {
    name: 'stop-orchestrator',
    expect: 'no-failover',
    async run(ctx) {
      const j = ctx.rng.int(0, ctx.world.orchestrators.length - 1);
      const ms = ctx.rng.int(1000, 6000);
      ctx.note(`orchestrator ${j} SIGSTOP ${ms} ms`);
      ctx.world.orchestrators[j]?.child.kill('SIGSTOP');
      try {
        await sleep(ms);
      } finally {
        ctx.world.orchestrators[j]?.child.kill('SIGCONT');
      }
    },
  },
  {
    name: 'orchestrator-down-then-prod',
    expect: 'failover',
    // the instance that evaluates production's node, or the other one; killed or frozen
    variants: ['SIGKILL owner', 'SIGSTOP owner', 'SIGKILL other', 'SIGSTOP other'],
    async run(ctx, variant) {
      const [signal, which] = (variant ?? ctx.rng.pick(this.variants!)).split(' ');
      const n = ctx.world.orchestrators.length;
      const owner = (await ctx.world.detectorOf(ctx.prod)) ?? ctx.rng.int(0, n - 1);
      const j = which === 'owner' ? owner : (owner + 1) % n;
      ctx.note(
        `${signal} of orchestrator ${j} (${which} of production's node), then kill -9 of production's agent`,
      );
      if (signal === 'SIGKILL') await ctx.world.killOrchestrator(j);
      else ctx.world.orchestrators[j]?.child.kill('SIGSTOP');
      try {
        await sleep(ctx.rng.int(0, 2000));
        await ctx.world.killAgent(ctx.prod);
        await untilFailedOver(ctx);
      } finally {
        ctx.world.orchestrators[j]?.child.kill('SIGCONT');
        await ctx.world.restartOrchestrator(j);
      }
    },
  },
  ...(['switchover', 'failover'] as const).flatMap((trigger) => [
    duringStep(`pg-down-during-${trigger}`, trigger, (ctx) => dependencyOutage(ctx, 'pg')),
    duringStep(`redis-down-during-${trigger}`, trigger, (ctx) => dependencyOutage(ctx, 'redis')),
    duringStep(`kill-worker-during-${trigger}`, trigger, async (ctx) => {
      const j = ctx.rng.int(0, ctx.world.orchestrators.length - 1);
      ctx.note(`kill -9 orchestrator ${j}`);
      await ctx.world.killOrchestrator(j);
      await sleep(ctx.rng.int(200, 2000));
      await ctx.world.restartOrchestrator(j);
    }),
  ]),
  ...(['prod', 'replica'] as const).flatMap((target): Fault[] => [
    {
      // The running agent's wall clock steps ±10 minutes (an NTP step, a bad RTC).
      name: `clock-jump-${target}`,
      expect: 'no-failover',
      async run(ctx) {
        const h = ctx[target];
        const skew = ctx.rng.pick([-600_000, 600_000]);
        ctx.note(`agent clock steps ${skew > 0 ? '+' : ''}${skew / 60000} min`);
        ctx.world.setClockSkew(h, skew);
        try {
          await holdAndSample(ctx, ctx.rng.int(4000, 8000));
        } finally {
          ctx.world.setClockSkew(h, 0);
        }
      },
    },
    {
      // The agent restarts with its clock ±10 minutes off (its state file written in that time),
      // then restarts again with the right time.
      name: `clock-skew-restart-${target}`,
      expect: 'no-failover',
      async run(ctx) {
        const h = ctx[target];
        const skew = ctx.rng.pick([-600_000, 600_000]);
        ctx.note(`agent restarted with its clock ${skew > 0 ? '+' : ''}${skew / 60000} min`);
        await restartAgent(ctx, h, skew);
        try {
          await holdAndSample(ctx, ctx.rng.int(4000, 8000));
        } finally {
          await restartAgent(ctx, h, 0);
        }
      },
    },
  ]),
];

/**
 * A graceful agent restart (SIGTERM, start again), e.g. with another clock. Production's agent down
 * for longer than the TTL is a real failure: the round may then fail over (noted).
 */
async function restartAgent(ctx: FaultContext, h: WorldHost, skewMs: number): Promise<void> {
  const started = Date.now();
  if (ctx.world.agentRunning(h)) {
    const exited = new Promise((r) => h.agent!.once('exit', r));
    h.agent!.kill('SIGTERM');
    await exited;
  }
  ctx.world.startAgent(h, skewMs);
  await ctx.world.waitAgentUp(h);
  const down = Date.now() - started;
  if (h === ctx.prod && down > ctx.ttlMs * 0.75)
    ctx.allowFailover(`the restart took ${down} ms (TTL ${ctx.ttlMs} ms)`);
}

export function faultNamed(name: string): Fault {
  const f = FAULTS.find((x) => x.name === name);
  if (!f) throw new Error(`no fault ${name}; known: ${FAULTS.map((x) => x.name).join(', ')}`);
  return f;
}
