import {
  MAX_CLIENTS_WATCH_MS,
  ClientsIo,
  ClientsPlan,
  clientsPlan,
  judgeAnswers,
  ProbeResult,
  watchClients,
  Warning,
} from './clients-moved';
import { ScenarioDnsRecord, VerifyClients } from '../scenarios/scenario.types';

const records: ScenarioDnsRecord[] = [{ zone: 'ha.test', name: 'app.ha.test', type: 'A', ttl: 5 }];
const OLD = '10.0.0.1';
const NEW = '10.0.0.2';

function settings(extra: Partial<VerifyClients> = {}): VerifyClients {
  return { resolvers: ['127.0.0.1:53'], probe: null, marginMs: 2000, graceMs: 3000, ...extra };
}

/**
 * A fake world on a fake clock: each resolver caches the old address until `expiresAt[i]` (ms after
 * the start), then answers the new one (never, with Infinity).
 */
function world(plan: ClientsPlan, expiresAt: number[], probeOk = () => true) {
  let now = plan.startedAt;
  const queries: { resolver: number; at: number }[] = [];
  const warnings: Warning[] = [];
  const probes: string[] = [];
  const io: ClientsIo = {
    now: () => now,
    sleep: async (ms) => {
      now += ms;
    },
    query: async (resolver) => {
      const i = plan.resolvers.findIndex((r) => r.port === resolver.port && r.host === resolver.host);
      const t = now - plan.startedAt;
      queries.push({ resolver: i, at: t });
      if (t < expiresAt[i]) {
        const left = expiresAt[i] - t;
        return { values: [OLD], ttl: Number.isFinite(left) ? Math.floor(left / 1000) : 300 };
      }
      return { values: [NEW], ttl: 5 };
    },
    probe: async (_p, address): Promise<ProbeResult> => {
      probes.push(address);
      return { ok: probeOk(), address, detail: 'fake' };
    },
    warn: async (w) => {
      warnings.push(w);
    },
  };
  return { io, queries, warnings, probes, elapsed: () => now - plan.startedAt };
}

describe('client-moved verification', () => {
  it('judges answers: the old address anywhere is old; the new one for every record is new', () => {
    const plan = { newValue: NEW, oldValue: OLD };
    const a = (values: string[], error?: string) => ({
      name: 'app.ha.test',
      type: 'A',
      values,
      ttl: 1,
      error,
    });
    expect(judgeAnswers([a([NEW])], plan)).toBe('new');
    expect(judgeAnswers([a([OLD])], plan)).toBe('old');
    expect(judgeAnswers([a([OLD, NEW])], plan)).toBe('old');
    expect(judgeAnswers([a([])], plan)).toBe('other');
    expect(judgeAnswers([a([NEW]), a([], 'timeout')], plan)).toBe('error');
  });

  it('bounds: warn at start + TTL + margin, give up grace later', () => {
    const plan = clientsPlan(settings(), records, NEW, OLD, 1_000_000);
    expect(plan.warnAt - plan.startedAt).toBe(7000);
    expect(plan.giveUpAt - plan.startedAt).toBe(10000);
  });

  it('never watches longer than MAX_CLIENTS_WATCH_MS, whatever the TTL and settings', () => {
    const day = records.map((r) => ({ ...r, ttl: 86_400 }));
    const plan = clientsPlan(settings({ marginMs: 600_000, graceMs: 3_600_000 }), day, NEW, OLD, 0);
    expect(plan.giveUpAt).toBe(MAX_CLIENTS_WATCH_MS);
    expect(plan.warnAt).toBeLessThanOrEqual(plan.giveUpAt);
  });

  it('clients moved only after the cached old answer expired; asks again when it expires, not every poll', async () => {
    const plan = clientsPlan(settings(), records, NEW, OLD, 0);
    const w = world(plan, [3500]);
    const out = await watchClients(plan, w.io);
    expect(out.clientsMoved).toBe(true);
    expect(out.movedAfterMs).toBeGreaterThanOrEqual(3500);
    expect(out.movedAfterMs).toBeLessThan(3500 + 500);
    expect(w.warnings).toEqual([]);
    // first answer: the cached old one with 3 s left; asked again a second before it expires, then
    // by polls (not every 250 ms from the start: 15 queries)
    const r = (out.resolvers as any[])[0];
    expect(r.first[0]).toMatchObject({ values: [OLD], ttl: 3 });
    expect(r.last[0]).toMatchObject({ values: [NEW] });
    expect(w.queries.map((q) => q.at)).toEqual([0, 2000, 2250, 2500, 2750, 3000, 3250, 3500]);
  });

  it('a resolver still answering the old address after TTL + margin is warned about once; gives up, no throw', async () => {
    const plan = clientsPlan(settings({ resolvers: ['127.0.0.1:53', '127.0.0.1:54'] }), records, NEW, OLD, 0);
    const w = world(plan, [1000, Infinity]);
    const out = await watchClients(plan, w.io);
    expect(out.clientsMoved).toBe(false);
    expect(out.clientsMovedAt).toBeNull();
    expect(w.elapsed()).toBeGreaterThanOrEqual(10000);
    expect(w.warnings).toHaveLength(1);
    expect(w.warnings[0]).toMatchObject({ subject: 'resolver', target: '127.0.0.1:54', key: 'resolver1' });
    expect(w.warnings[0].message).toMatch(/still answers the old address 10\.0\.0\.1/);
    expect((out.resolvers as any[]).map((r) => r.verdict)).toEqual(['new', 'old']);
  });

  it('grace 0: the warning is still raised before giving up', async () => {
    const plan = clientsPlan(settings({ graceMs: 0 }), records, NEW, OLD, 0);
    const w = world(plan, [Infinity]);
    const out = await watchClients(plan, w.io);
    expect(out.clientsMoved).toBe(false);
    expect(w.warnings).toHaveLength(1);
  });

  it('the probe runs only once the first resolver answers the new address, and must succeed', async () => {
    const probe = { kind: 'tcp' as const, target: 'app.ha.test:80', timeoutMs: 500 };
    const plan = clientsPlan(settings({ probe }), records, NEW, OLD, 0);
    let tries = 0;
    const w = world(plan, [2000], () => ++tries >= 3);
    const out = await watchClients(plan, w.io);
    expect(out.clientsMoved).toBe(true);
    expect(w.probes.every((a) => a === NEW)).toBe(true);
    expect(w.probes).toHaveLength(3);
    expect((out.probe as any).okAfterMs).toBe(out.movedAfterMs);

    const failing = clientsPlan(settings({ probe }), records, NEW, OLD, 0);
    const f = world(failing, [0], () => false);
    const fout = await watchClients(failing, f.io);
    expect(fout.clientsMoved).toBe(false);
    expect(f.warnings.map((x) => x.subject)).toEqual(['probe']);
  });

  it('a resolver that does not answer counts as not moved', async () => {
    const plan = clientsPlan(settings({ graceMs: 0, marginMs: 0 }), records, NEW, OLD, 0);
    const w = world(plan, [0]);
    w.io.query = async () => {
      throw new Error('timeout');
    };
    const out = await watchClients(plan, w.io);
    expect(out.clientsMoved).toBe(false);
    expect(w.warnings[0].message).toMatch(/does not answer \(timeout\)/);
  });
});
