import { decideSelfFence, LeaseInput } from './lease';

describe('decideSelfFence', () => {
  const leaseMs = 3000;
  const base: LeaseInput = { role: 'production', now: 100_000, startedAt: 0, leaseMs };

  it('does not demote when only the orchestrators are lost (a peer was heard recently)', () => {
    const d = decideSelfFence({ ...base, lastOrchestratorContact: 10_000, lastPeerContact: 99_500 });
    expect(d.selfFence).toBe(false);
    expect(d.cutOffForMs).toBe(500);
  });

  it('does not demote when only the peers are lost (an orchestrator was reached recently)', () => {
    const d = decideSelfFence({ ...base, lastOrchestratorContact: 99_000, lastPeerContact: 1_000 });
    expect(d.selfFence).toBe(false);
  });

  it('does not demote when the peers were never heard but an orchestrator is reached', () => {
    expect(decideSelfFence({ ...base, lastOrchestratorContact: 99_900 }).selfFence).toBe(false);
  });

  it('demotes when both were lost for the lease', () => {
    const d = decideSelfFence({ ...base, lastOrchestratorContact: 96_000, lastPeerContact: 97_000 });
    expect(d).toMatchObject({ selfFence: true, cutOffForMs: 3000 });
    expect(d.reason).toContain('no orchestrator and no peer');
  });

  it('does not demote one millisecond before the lease ends', () => {
    expect(
      decideSelfFence({ ...base, lastOrchestratorContact: 96_000, lastPeerContact: 97_001 }).selfFence,
    ).toBe(false);
  });

  it('counts from process start when nothing was ever reached', () => {
    expect(decideSelfFence({ ...base, now: 2_999 }).selfFence).toBe(false);
    expect(decideSelfFence({ ...base, now: 3_000 }).selfFence).toBe(true);
  });

  it('never demotes a node that is not production', () => {
    for (const role of ['replica', 'demoted', 'unknown'] as const) {
      const d = decideSelfFence({ ...base, role, lastOrchestratorContact: 1, lastPeerContact: 1 });
      expect(d.selfFence).toBe(false);
    }
  });
});
