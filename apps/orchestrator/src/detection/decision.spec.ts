import { decide, decideFailback, DecisionInput, FailbackInput } from './decision';

const base: DecisionInput = {
  scenario: { name: 'orders', state: 'running', failoverMode: 'auto', holdUntil: null },
  node: 'db1',
  verdict: 'failed',
  noQuorum: false,
  reason: 'orchestrator and 1 peer(s) lost the node',
  maintenance: null,
  cannotFence: false,
  now: 1_000_000,
};
const window = { id: 'w1', scopeType: 'node', endsAt: new Date(2_000_000), reason: 'kernel update' };
const rule = (over: Partial<DecisionInput>, scenario: Partial<DecisionInput['scenario']> = {}) =>
  decide({ ...base, ...over, scenario: { ...base.scenario, ...scenario } })?.rule ?? null;

describe('decide', () => {
  it('fails over a failed active node of a running auto scenario', () => {
    expect(decide(base)).toMatchObject({
      outcome: 'failover',
      rule: 'failover',
      eventKind: 'failover-requested',
    });
    expect(rule({}, { state: 'degraded' })).toBe('failover');
    expect(rule({}, { state: 'ar_testing' })).toBe('failover');
  });

  it('nothing to decide for a healthy or suspect node, or a scenario that is not protected now', () => {
    expect(rule({ verdict: 'healthy' })).toBeNull();
    expect(rule({ verdict: 'suspect' })).toBeNull();
    for (const state of ['stopped', 'starting', 'failing_over', 'failing_back'])
      expect(rule({}, { state })).toBeNull();
  });

  it('a failed node that is heard again (its verdict held while it recovers) is not failed over', () => {
    expect(decide({ ...base, recovering: true })).toBeNull();
    expect(rule({ recovering: true }, { state: 'failed_over' })).toBeNull();
    expect(rule({ recovering: false })).toBe('failover');
  });

  it('no quorum: lost by the orchestrator, not confirmed by peers', () => {
    expect(decide({ ...base, verdict: 'suspect', noQuorum: true })).toMatchObject({
      outcome: 'no-action',
      rule: 'no-quorum',
    });
    expect(rule({ verdict: 'suspect', noQuorum: true }, { state: 'stopped' })).toBeNull();
  });

  it('applies the rules in order: state, manual mode, maintenance, hold-down, fencing', () => {
    const all = { maintenance: window, cannotFence: true };
    const held = { holdUntil: new Date(base.now + 1) };
    expect(rule(all, { state: 'failed_over', failoverMode: 'manual', ...held })).toBe('state');
    expect(rule(all, { failoverMode: 'manual', ...held })).toBe('manual-mode');
    expect(rule(all, held)).toBe('maintenance');
    expect(rule({ cannotFence: true }, held)).toBe('hold-down');
    expect(rule({ cannotFence: true })).toBe('fencing-blocked');
    // A hold that has ended holds nothing.
    expect(rule({}, { holdUntil: new Date(base.now) })).toBe('failover');
  });

  it('says why in words an operator reads', () => {
    expect(decide({ ...base, maintenance: window })!.message).toMatch(
      /db1 failed but orders is in maintenance \(window w1 on node, until .*: kernel update\)/,
    );
    expect(decide({ ...base, scenario: { ...base.scenario, failoverMode: 'manual' } })).toMatchObject({
      outcome: 'alert',
      severity: 'critical',
      message: expect.stringMatching(/manual mode, waiting for an operator/),
    });
  });
});

describe('decideFailback', () => {
  const fb: FailbackInput = {
    scenario: {
      name: 'orders',
      state: 'failed_over',
      holdUntil: null,
      activeNodeId: 'r1',
      productionNodeId: 'p',
    },
    production: { name: 'db1', verdict: 'healthy', lagSeconds: 0 },
    maxLagSeconds: 0,
    window: { closesAt: 2_000_000 },
    maintenance: null,
    now: 1_000_000,
  };
  const rule = (over: Partial<FailbackInput>) => decideFailback({ ...fb, ...over })?.rule ?? null;

  it('fails back a healthy, resynced production inside the window', () => {
    expect(decideFailback(fb)).toMatchObject({
      outcome: 'failback',
      rule: 'failback',
      eventKind: 'failback-requested',
    });
    expect(rule({ maxLagSeconds: 5, production: { ...fb.production, lagSeconds: 5 } })).toBe('failback');
  });

  it('nothing to decide outside the window, while production is not healthy, or when not failed over', () => {
    expect(rule({ window: null })).toBeNull();
    expect(rule({ production: { ...fb.production, verdict: 'failed' } })).toBeNull();
    expect(rule({ production: { ...fb.production, verdict: 'suspect' } })).toBeNull();
    expect(rule({ scenario: { ...fb.scenario, state: 'running' } })).toBeNull();
    expect(rule({ scenario: { ...fb.scenario, activeNodeId: 'p' } })).toBeNull();
  });

  it('withheld in the window: hold-down, then maintenance, then not resynced', () => {
    const held = { ...fb.scenario, holdUntil: new Date(fb.now + 1) };
    const w = { id: 'w1', endsAt: new Date(fb.now + 10) };
    expect(rule({ scenario: held, maintenance: w })).toBe('hold-down');
    expect(rule({ maintenance: w })).toBe('maintenance');
    expect(decideFailback({ ...fb, production: { ...fb.production, lagSeconds: 3 } })).toMatchObject({
      outcome: 'no-action',
      rule: 'not-resynced',
      message: expect.stringMatching(/db1 lags 3 s \(at most 0 s to fail back\)/),
    });
    expect(decideFailback({ ...fb, production: { ...fb.production, lagSeconds: null } })?.message).toMatch(
      /reports no replication lag/,
    );
  });
});
