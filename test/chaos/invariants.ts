/**
 * The invariants every chaos round is checked against, from what really happened: the agents'
 * action logs (CLOCK_REALTIME ns, one machine clock), the protected services' liveness beats, the
 * orchestrator's operations and the DNS answers.
 */
import type { ActionRun, ChaosWorld, WorldHost, WorldScenario } from './world';

/** How often a stand-in protected service writes its liveness beat. */
export const BEAT_MS = 100;

/** Beats further apart than this mean the service was down in between (its watchdog killed it). */
const GAP_NS = BigInt(10 * BEAT_MS) * 1_000_000n;
/** Actions that take a node out of the production role. */
const STAND_DOWN = new Set(['demote', 'fence', 'stop-app']);

export interface Violation {
  invariant: string;
  detail: string;
}

/** When a service stopped serving, for each stop: the last beat before a gap, or the last one if it is down now. */
export function serviceStops(beats: bigint[], aliveNow: boolean): bigint[] {
  const stops: bigint[] = [];
  for (let i = 1; i < beats.length; i++) if (beats[i] - beats[i - 1] > GAP_NS) stops.push(beats[i - 1]);
  if (!aliveNow && beats.length) stops.push(beats[beats.length - 1]);
  return stops;
}

/**
 * Never two actives: when a node ran `promote` at time t, every other node that held the production
 * role of that scenario had stood down before t (demote, fence or self-fence logged, or its service
 * stopped by its watchdog), or its service did not run at all while it held the role (no beat from
 * the moment it took the role until t, for longer than a beat gap: it took the role with its
 * service already down and never served). The scenario's first production holds the role from the
 * start.
 */
export function checkSingleActive(
  scenario: Pick<WorldScenario, 'id' | 'name'>,
  firstProduction: string,
  runs: ActionRun[],
  /** per host, when its service stopped (serviceStops) */
  stops: Map<string, bigint[]>,
  /** per host, every liveness beat of its service (all instances: they share live.log) */
  beats: Map<string, bigint[]> = new Map(),
): Violation[] {
  const out: Violation[] = [];
  const mine = runs.filter((r) => r.scenarioId === scenario.id).sort((a, b) => (a.ns < b.ns ? -1 : 1));
  // host → time it took the production role (absent: not holding it)
  const holding = new Map<string, bigint>([[firstProduction, 0n]]);
  const stoodDown = (host: string, since: bigint, before: bigint) =>
    mine.some((r) => r.host === host && STAND_DOWN.has(r.action) && r.ns >= since && r.ns < before) ||
    (stops.get(host) ?? []).some((s) => s >= since && s < before) ||
    neverServed(host, since, before);
  const neverServed = (host: string, since: bigint, before: bigint) => {
    const b = beats.get(host);
    return !!b && b.length > 0 && before - since > GAP_NS && !b.some((t) => t >= since && t < before);
  };
  for (const r of mine) {
    if (r.action !== 'promote') continue;
    for (const [other, since] of holding) {
      if (other === r.host) continue;
      if (!stoodDown(other, since, r.ns)) {
        out.push({
          invariant: 'single-active',
          detail: `${scenario.name}: ${r.host} promoted at epoch ${r.epoch} while ${other} still held the production role`,
        });
      }
      holding.delete(other);
    }
    holding.set(r.host, r.ns);
  }
  return out;
}

/**
 * Epochs: each scenario's promotions carry strictly increasing epochs (never two nodes accepting the
 * role at one epoch), and no node ran an orchestrator-sent action with an epoch older than one it had
 * already acted on (a stale action accepted).
 */
export function checkEpochs(scenario: Pick<WorldScenario, 'id' | 'name'>, runs: ActionRun[]): Violation[] {
  const out: Violation[] = [];
  const mine = runs
    .filter((r) => r.scenarioId === scenario.id && r.stepId && !r.stepId.startsWith('self-'))
    .sort((a, b) => (a.ns < b.ns ? -1 : 1));
  let lastPromote = -1;
  const seen = new Map<string, number>();
  for (const r of mine) {
    if (r.action === 'promote') {
      if (r.epoch <= lastPromote) {
        out.push({
          invariant: 'epoch',
          detail: `${scenario.name}: promote of ${r.host} at epoch ${r.epoch} after a promote at ${lastPromote}`,
        });
      }
      lastPromote = Math.max(lastPromote, r.epoch);
    }
    const prior = seen.get(r.host) ?? -1;
    if (r.epoch < prior) {
      out.push({
        invariant: 'stale-epoch',
        detail: `${scenario.name}: ${r.host} ran ${r.action} at epoch ${r.epoch} after acting at ${prior}`,
      });
    }
    seen.set(r.host, Math.max(prior, r.epoch));
  }
  return out;
}

/** Each agent action ran at most once per step id. */
export function checkOncePerStep(runs: ActionRun[]): Violation[] {
  const counts = new Map<string, number>();
  for (const r of runs) {
    if (!r.stepId || r.stepId.startsWith('self-')) continue;
    const k = `${r.host} ${r.action} ${r.stepId}`;
    counts.set(k, (counts.get(k) ?? 0) + 1);
  }
  return [...counts]
    .filter(([, n]) => n > 1)
    .map(([k, n]) => ({ invariant: 'once-per-step', detail: `${k} ran ${n} times` }));
}

/** Every operation ended (succeeded, or failed with a reason). */
export function checkOperationsEnded(operations: any[]): Violation[] {
  const out: Violation[] = [];
  for (const op of operations) {
    if (op.state !== 'succeeded' && op.state !== 'failed') {
      out.push({ invariant: 'operation-ended', detail: `${op.type} ${op.id} still ${op.state}` });
    } else if (op.state === 'failed' && !op.error) {
      out.push({ invariant: 'operation-ended', detail: `${op.type} ${op.id} failed without a reason` });
    }
  }
  return out;
}

/** The whole set, once the world has settled after a round. */
export async function checkWorld(
  world: ChaosWorld,
  firstProduction: Map<string, WorldHost>,
): Promise<Violation[]> {
  const runs = world.hosts.flatMap((h) => world.actionLog(h));
  const out: Violation[] = [...checkOncePerStep(runs)];
  const stops = new Map(
    world.hosts.map((h) => [
      h.name,
      [...h.replacedServices, ...serviceStops(h.service.beats(), h.service.alive())],
    ]),
  );
  const beatsOf = new Map(world.hosts.map((h) => [h.name, h.service.beats()]));
  for (const s of world.scenarios) {
    out.push(...checkSingleActive(s, firstProduction.get(s.id)!.name, runs, stops, beatsOf));
    out.push(...checkEpochs(s, runs));
    out.push(...checkOperationsEnded(await world.operations(s.id)));
    const sc = await world.scenario(s.id);
    const active = world.hostById(sc.activeNodeId);
    for (let j = 0; j < world.opts.dnsPorts.length; j++) {
      if (!world.orchestratorRunning(j)) continue;
      const answer = await world.dns(s.record, j).catch((e: Error) => [`error: ${e.message}`]);
      if (answer.length !== 1 || answer[0] !== active?.lab.ip) {
        out.push({
          invariant: 'dns-active',
          detail: `${s.name}: DNS ${j} answers ${answer.join(',') || 'nothing'}, active is ${active?.name} (${active?.lab.ip})`,
        });
      }
    }
  }
  return out;
}
