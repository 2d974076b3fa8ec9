/**
 * The seeded randomized chaos runner:
 *   npm run test:chaos -- --rounds N --seed S [--round K | --first K] [--fault NAME [--variant V] | --each] [--udp] [--port BASE]
 * Each round draws a fault and its timing from (seed, round), runs it against a live world (two
 * orchestrators, production and replica agents in network namespaces), heals, settles and checks
 * every invariant, then prints one line. A violating round prints the command that replays it.
 * Exit code 1 when any round violated an invariant. Needs root (namespaces, iptables).
 */
import { FAULTS, faultNamed, rngFor } from './faults';
import { chaosWorldOptions, formatRound, RoundWorld } from './rounds';

function arg(name: string): string | undefined {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1] : undefined;
}

async function main(): Promise<void> {
  const seed = Number(arg('seed') ?? Date.now() % 2147483647);
  const only = arg('round') !== undefined ? Number(arg('round')) : undefined;
  const rounds = only !== undefined ? 1 : Number(arg('rounds') ?? 10);
  const first = only ?? Number(arg('first') ?? 0);
  const pinned = arg('fault');
  // --each: round i runs the i-th (mod n) of every fault and variant (e.g. each step), in order.
  const each = process.argv.includes('--each');
  const expanded = FAULTS.flatMap((f) => (f.variants ?? [undefined]).map((v) => ({ fault: f, variant: v })));
  const base = Number(arg('port') ?? 18500);
  // --udp: agents send UDP heartbeats (HTTP for full ones and when datagrams go unanswered)
  const udp = process.argv.includes('--udp');
  if (!Number.isInteger(seed) || !Number.isInteger(rounds) || rounds < 1)
    throw new Error('bad --seed/--rounds');
  console.log(
    `chaos: seed=${seed} rounds=${rounds}${pinned ? ` fault=${pinned}` : ''} faults=${FAULTS.length}`,
  );
  let world: RoundWorld | null = null;
  let violations = 0;
  const failing: number[] = [];
  const t0 = Date.now();
  const stop = async () => {
    await world?.close().catch(() => undefined);
    process.exit(130);
  };
  for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) process.once(sig, () => void stop());
  try {
    for (let i = first; i < first + rounds; i++) {
      const rng = rngFor(seed, i);
      const { fault, variant } = pinned
        ? { fault: faultNamed(pinned), variant: arg('variant') }
        : each
          ? expanded[i % expanded.length]
          : { fault: rng.pick(FAULTS), variant: undefined };
      world ??= await RoundWorld.create(chaosWorldOptions(`chaos${seed % 10000}`, base, udp));
      let line: string;
      try {
        const r = await world.run(fault, rng, variant);
        line = formatRound(i, seed, r);
        if (r.violations.length) {
          violations += r.violations.length;
          failing.push(i);
          const how = `${pinned ? ` --fault ${pinned}` : ''}${each ? ' --each' : ''}${udp ? ' --udp' : ''}`;
          line += `\n  replay: npm run test:chaos -- --seed ${seed} --round ${i}${how}`;
          line += `\n  logs: ${await world.world.saveDiagnostics(`/tmp/chaos-${seed}-${i}`)}`;
          // Start the next round from a fresh world: this one broke a rule and may stay broken.
          await world.close();
          world = null;
        }
      } catch (err) {
        line = `round ${i} seed=${seed} fault=${fault.name} ERROR ${(err as Error).stack}`;
        failing.push(i);
        violations++;
        await world?.close().catch(() => undefined);
        world = null;
      }
      console.log(line);
    }
  } finally {
    await world?.close().catch(() => undefined);
  }
  const summary = {
    seed,
    rounds,
    violations,
    failingRounds: failing,
    seconds: Math.round((Date.now() - t0) / 1000),
  };
  console.log(JSON.stringify(summary));
  process.exit(violations ? 1 : 0);
}

main().catch((err) => {
  console.error(err);
  process.exit(2);
});
