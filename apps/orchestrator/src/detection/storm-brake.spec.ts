/**
 * The storm brake's budget counts incidents (one failure of one node; a scenario moving again
 * within it is a flap, a new incident), not failovers: the ports (PostgreSQL, audit, metrics) faked,
 * the counting and engaging logic real.
 */
import { incidentKey, StormBrakeService } from './storm-brake.service';

function brake(opts: { max: number; moved: { key: string; scenarioId: string }[]; engaged?: boolean }) {
  const saved: unknown[] = [];
  const events: unknown[] = [];
  let setting: Record<string, unknown> | null = opts.engaged ? { engaged: true } : null;
  const dataSource = {
    query: jest.fn(async () => opts.moved),
    getRepository: () => ({ findOne: async () => (setting ? { value: setting } : null) }),
    transaction: async (fn: (m: unknown) => Promise<void>) =>
      fn({
        getRepository: () => ({
          save: async (row: { value: Record<string, unknown> }) => {
            saved.push(row);
            setting = row.value;
          },
          insert: async (e: unknown) => void events.push(e),
        }),
      }),
  };
  const metrics = { stormBrake: { set: jest.fn() } };
  const service = new StormBrakeService(
    dataSource as never,
    { STORM_MAX_FAILOVERS: opts.max, STORM_WINDOW_MS: 600_000 } as never,
    {} as never,
    metrics as never,
  );
  return { service, saved, events, metrics };
}

const scenarios = (n: number, prefix = 's') => Array.from({ length: n }, (_, i) => `${prefix}${i}`);

describe('storm brake: incidents', () => {
  const hostA = incidentKey('node-a', 1000);
  const hostB = incidentKey('node-b', 2000);

  it('a host whose 1,000 scenarios fail over is one incident: all of them go on a budget of one', async () => {
    const ids = scenarios(1000);
    const b = brake({ max: 1, moved: [] });
    const allowed = await b.service.allowIncidents(ids.map((scenarioId) => ({ key: hostA, scenarioId })));
    expect(allowed.size).toBe(1000);
    expect(b.saved).toEqual([]);
    // Half of them moved; the other half (a later tick) still go; a new failure does not.
    const moved = ids.slice(0, 500).map((scenarioId) => ({ key: hostA, scenarioId }));
    const after = brake({ max: 1, moved });
    const rest = ids.slice(500).map((scenarioId) => ({ key: hostA, scenarioId }));
    const next = await after.service.allowIncidents([...rest, { key: hostB, scenarioId: 'other' }]);
    expect(next.size).toBe(500);
    expect(next.has('other')).toBe(false);
    expect(after.saved).toHaveLength(1);
    expect(after.events).toEqual([
      expect.objectContaining({
        kind: 'storm-brake',
        details: expect.objectContaining({ incidents: 1, failovers: 500, refusedIncident: hostB }),
      }),
    ]);
    expect((await after.service.state()).recentIncidents).toBe(1);
  });

  it('a scenario moving again within the same failure (users moved back meanwhile) is a flap: a new incident', async () => {
    const b = brake({ max: 1, moved: [{ key: hostA, scenarioId: 's0' }] });
    expect(await b.service.allowIncidents([{ key: hostA, scenarioId: 's0' }])).toEqual(new Set());
    expect(b.saved).toEqual([expect.objectContaining({ value: expect.objectContaining({ engaged: true }) })]);
    // With budget for it, it goes, and the ledger then shows two incidents.
    const roomy = brake({ max: 2, moved: [{ key: hostA, scenarioId: 's0' }] });
    expect(await roomy.service.allowIncidents([{ key: hostA, scenarioId: 's0' }])).toEqual(new Set(['s0']));
    const twice = brake({
      max: 5,
      moved: [
        { key: hostA, scenarioId: 's0' },
        { key: hostA, scenarioId: 's0' },
        { key: hostA, scenarioId: 's1' },
      ],
    });
    expect((await twice.service.state()).recentIncidents).toBe(2);
  });

  it('new incidents go while the budget lasts; once engaged nothing goes until an acknowledgement', async () => {
    const c = incidentKey('node-c', 3000);
    const b = brake({ max: 2, moved: [{ key: hostA, scenarioId: 's0' }] });
    expect(
      await b.service.allowIncidents([
        { key: hostB, scenarioId: 'b0' },
        { key: c, scenarioId: 'c0' },
      ]),
    ).toEqual(new Set(['b0']));
    const engaged = brake({ max: 100, moved: [], engaged: true });
    expect(await engaged.service.allowIncidents([{ key: hostA, scenarioId: 's0' }])).toEqual(new Set());
    expect(engaged.metrics.stormBrake.set).toHaveBeenCalledWith(1);
  });

  describe('a switch-all group action (one unit)', () => {
    const unit = 'group:g1';
    const member = (i: number) => ({ key: incidentKey(`node-${i}`, 5000), scenarioId: `m${i}`, unit });

    it('five production nodes to move on a budget of three: no member goes, the brake engages once', async () => {
      const b = brake({ max: 3, moved: [] });
      const allowed = await b.service.allowIncidents([1, 2, 3, 4, 5].map(member));
      expect(allowed).toEqual(new Set());
      expect(b.saved).toHaveLength(1);
      expect(b.events).toEqual([
        expect.objectContaining({
          kind: 'storm-brake',
          details: expect.objectContaining({ refusedIncident: unit }),
        }),
      ]);
    });

    it('within the budget the whole unit goes, and uses one incident per node', async () => {
      const b = brake({ max: 3, moved: [] });
      const lone = { key: incidentKey('node-9', 6000), scenarioId: 'lone' };
      const allowed = await b.service.allowIncidents([member(1), member(2), member(3), lone]);
      // The group took all three incidents: a later failure alone finds the budget spent.
      expect(allowed).toEqual(new Set(['m1', 'm2', 'm3']));
      expect(b.saved).toHaveLength(1);
    });

    it('a node shared by the unit and a lone scenario is one incident', async () => {
      const b = brake({ max: 2, moved: [] });
      const shared = { key: incidentKey('node-1', 5000), scenarioId: 'other-on-node-1' };
      expect(await b.service.allowIncidents([member(1), member(2), shared])).toEqual(
        new Set(['m1', 'm2', 'other-on-node-1']),
      );
    });

    it('a refused unit moves nothing, not even a member of an incident under way (never half a group)', async () => {
      const moved = [{ key: incidentKey('node-1', 5000), scenarioId: 'moved-before' }];
      const b = brake({ max: 1, moved });
      // m1's node is already an incident (counted); m2's would be a second one: over budget.
      expect(await b.service.allowIncidents([member(1), member(2)])).toEqual(new Set());
      // Alone (no group), a scenario of that incident still finishes it.
      const alone = brake({ max: 1, moved });
      const lone = { key: incidentKey('node-1', 5000), scenarioId: 'm1' };
      expect(
        await alone.service.allowIncidents([lone, { key: incidentKey('node-2', 5000), scenarioId: 'm2' }]),
      ).toEqual(new Set(['m1']));
      // A unit with nothing new (all under way) goes.
      const done = brake({ max: 1, moved });
      expect(await done.service.allowIncidents([member(1)])).toEqual(new Set(['m1']));
    });
  });
});
