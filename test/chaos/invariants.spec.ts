import {
  checkEpochs,
  checkOncePerStep,
  checkOperationsEnded,
  checkSingleActive,
  serviceStops,
} from './invariants';
import type { ActionRun } from './world';

const S = { id: 'sc-1', name: 'orders' };
const ms = (n: number) => BigInt(n) * 1_000_000n;
const run = (
  host: string,
  atMs: number,
  action: string,
  epoch: number,
  stepId = `step-${atMs}`,
): ActionRun => ({
  host,
  ns: ms(atMs),
  action,
  epoch,
  stepId,
  scenarioId: S.id,
});
const noStops = new Map<string, bigint[]>();

describe('chaos invariants', () => {
  describe('single active', () => {
    it('accepts a promote after the old production stood down', () => {
      const runs = [run('prod', 1000, 'fence', 2), run('replica', 1200, 'promote', 2)];
      expect(checkSingleActive(S, 'prod', runs, noStops)).toEqual([]);
    });

    it('accepts a promote after the old production was taken down by its watchdog', () => {
      const stops = new Map([['prod', [ms(900)]]]);
      expect(checkSingleActive(S, 'prod', [run('replica', 1200, 'promote', 2)], stops)).toEqual([]);
    });

    it('flags a promote while the old production still serves', () => {
      const v = checkSingleActive(S, 'prod', [run('replica', 1200, 'promote', 2)], noStops);
      expect(v).toHaveLength(1);
      expect(v[0].invariant).toBe('single-active');
    });

    it('flags a stand-down that came only after the promote', () => {
      const runs = [run('replica', 1200, 'promote', 2), run('prod', 1300, 'demote', 2)];
      const stops = new Map([['prod', [ms(1250)]]]);
      expect(checkSingleActive(S, 'prod', runs, stops)).toHaveLength(1);
    });

    it('accepts a promote over a node that took the role with its service already down and never served (chaos seed 20261208 round 109)', () => {
      // prod: watchdog killed its service at 900; failed back to at 1000 (promote) with no service;
      // replica promoted at 2500; prod's service started again only at 3000
      const runs = [
        run('replica', 950, 'demote', 3),
        run('prod', 1000, 'promote', 3),
        run('replica', 2500, 'promote', 4),
      ];
      const stops = new Map([['prod', [ms(900)]]]);
      const beats = new Map([['prod', [ms(800), ms(900), ms(3000), ms(3100)]]]);
      expect(checkSingleActive(S, 'replica', runs, stops, beats)).toEqual([]);
      // the same with a beat while it held the role: it served, and nothing stood it down
      const served = new Map([['prod', [ms(800), ms(900), ms(2000), ms(3000)]]]);
      const served2 = new Map([['prod', [ms(900)]]]);
      expect(checkSingleActive(S, 'replica', runs, served2, served)).toHaveLength(1);
      // too short to tell (under a beat gap): flagged
      const quick = [
        run('replica', 950, 'demote', 3),
        run('prod', 1000, 'promote', 3),
        run('replica', 1500, 'promote', 4),
      ];
      expect(checkSingleActive(S, 'replica', quick, stops, beats)).toHaveLength(1);
    });

    it('follows the role through a failover and a failback', () => {
      const runs = [
        run('prod', 1000, 'fence', 2),
        run('replica', 1100, 'promote', 2),
        run('prod', 2000, 'resync', 3),
        run('replica', 2100, 'demote', 3),
        run('prod', 2200, 'promote', 3),
      ];
      expect(checkSingleActive(S, 'prod', runs, noStops)).toEqual([]);
      // the failback without the active's demotion: two actives
      expect(
        checkSingleActive(
          S,
          'prod',
          runs.filter((r) => r.ns !== ms(2100)),
          noStops,
        ),
      ).toHaveLength(1);
    });
  });

  it('service stops: gaps in the beats, and the last beat of a service that is down', () => {
    const beats = [100, 200, 300, 2300, 2400].map(ms);
    expect(serviceStops(beats, true)).toEqual([ms(300)]);
    expect(serviceStops(beats, false)).toEqual([ms(300), ms(2400)]);
  });

  it('epochs: a second promote at one epoch and a stale action are flagged', () => {
    expect(checkEpochs(S, [run('replica', 1, 'promote', 2), run('prod', 2, 'promote', 3)])).toEqual([]);
    expect(checkEpochs(S, [run('replica', 1, 'promote', 2), run('prod', 2, 'promote', 2)])[0].invariant).toBe(
      'epoch',
    );
    expect(checkEpochs(S, [run('prod', 1, 'resync', 3), run('prod', 2, 'demote', 2)])[0].invariant).toBe(
      'stale-epoch',
    );
    // the agent's own self-fence is not an orchestrator action
    expect(
      checkEpochs(S, [run('prod', 1, 'resync', 3), run('prod', 2, 'demote', 1, 'self-fence-1-5')]),
    ).toEqual([]);
  });

  it('once per step', () => {
    expect(checkOncePerStep([run('a', 1, 'promote', 2, 'x'), run('a', 2, 'demote', 2, 'x')])).toEqual([]);
    expect(checkOncePerStep([run('a', 1, 'promote', 2, 'x'), run('a', 2, 'promote', 2, 'x')])).toHaveLength(
      1,
    );
  });

  it('operations must end, a failure with its reason', () => {
    expect(checkOperationsEnded([{ id: '1', type: 'failover', state: 'succeeded' }])).toEqual([]);
    expect(checkOperationsEnded([{ id: '1', type: 'failover', state: 'running' }])).toHaveLength(1);
    expect(checkOperationsEnded([{ id: '1', type: 'failover', state: 'failed', error: null }])).toHaveLength(
      1,
    );
    expect(
      checkOperationsEnded([{ id: '1', type: 'failover', state: 'failed', error: 'no replica' }]),
    ).toEqual([]);
  });
});
