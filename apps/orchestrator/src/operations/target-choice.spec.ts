import { CandidateFacts, chooseTarget, TargetPolicy } from './target-choice';

const node = (name: string, over: Partial<CandidateFacts> = {}): CandidateFacts => ({
  nodeId: `id-${name}`,
  name,
  labels: { site: 'paris' },
  failed: false,
  inMaintenance: false,
  lagSeconds: 0,
  ...over,
});
const base: TargetPolicy = { maxLagSeconds: 30 };
const pick = (
  cs: CandidateFacts[],
  policy = base,
  opts: { force?: boolean; requested?: string } = {},
  site = 'paris',
) => chooseTarget(cs, policy, site, { force: opts.force ?? false, requested: opts.requested });

describe('promotion target choice', () => {
  it('takes the first eligible replica in priority order', () => {
    expect(pick([node('r1'), node('r2')]).target?.name).toBe('r1');
  });

  it('skips a replica lagging above the bound for the next one; force may take it', () => {
    const cs = [node('r1', { lagSeconds: 45 }), node('r2', { lagSeconds: 3 })];
    const c = pick(cs);
    expect(c.target?.name).toBe('r2');
    expect(c.ranked.find((v) => v.name === 'r1')?.reasons).toEqual(['lags 45 s (max 30 s)']);
    expect(pick(cs, base, { force: true }).target?.name).toBe('r1');
  });

  it('with none eligible there is no target, and the summary gives every reason', () => {
    const c = pick([
      node('r1', { lagSeconds: 45 }),
      node('r2', { inMaintenance: true }),
      node('r3', { failed: true }),
    ]);
    expect(c.target).toBeNull();
    expect(c.summary).toBe('no eligible replica: r1: lags 45 s (max 30 s) | r2: in maintenance | r3: failed');
  });

  it('force never overrides maintenance or a failed node (unless that node is named)', () => {
    const cs = [node('r1', { inMaintenance: true }), node('r2', { failed: true })];
    expect(pick(cs, base, { force: true }).target).toBeNull();
    expect(pick(cs, base, { force: true, requested: 'id-r2' }).target?.name).toBe('r2');
    expect(pick(cs, base, { force: true, requested: 'id-r1' }).target).toBeNull();
  });

  it('required labels and the site rule refuse unless forced', () => {
    const cs = [
      node('r1', { labels: { site: 'lyon', tier: 'gold' } }),
      node('r2', { labels: { site: 'paris' } }),
    ];
    expect(pick(cs, { ...base, requiredLabels: { tier: 'gold' } }).target?.name).toBe('r1');
    const sameSite = pick(cs, { ...base, requiredLabels: { tier: 'gold' }, allowCrossSite: false });
    expect(sameSite.target).toBeNull();
    expect(sameSite.summary).toMatch(/r1: site lyon is not paris/);
    expect(sameSite.summary).toMatch(/r2: lacks required label tier=gold/);
    expect(pick(cs, { ...base, allowCrossSite: false }).target?.name).toBe('r2');
    const forced = pick(cs, { ...base, allowCrossSite: false }, { force: true });
    expect(forced.target?.name).toBe('r1');
    expect(forced.target?.reasons[0]).toMatch(/overridden by force/);
  });

  it('preferred labels come first, then agents that answered, then replica order', () => {
    const cs = [
      node('r1', { unreachable: 'timeout' }),
      node('r2', { labels: { site: 'paris' } }),
      node('r3', { labels: { site: 'paris', rack: 'r7' } }),
    ];
    expect(pick(cs).ranked.map((v) => v.name)).toEqual(['r2', 'r3', 'r1']);
    expect(pick(cs, { ...base, preferredLabels: { rack: 'r7' } }).ranked.map((v) => v.name)).toEqual([
      'r3',
      'r2',
      'r1',
    ]);
    expect(pick([node('r1', { unreachable: 'timeout' })]).target?.reasons).toEqual(['lag unknown: timeout']);
  });

  it('a requested node that is not a candidate is named', () => {
    expect(pick([node('r1')], base, { requested: 'id-zz' }).summary).toBe(
      'node id-zz is not a replica of this scenario or is already active',
    );
  });
});
