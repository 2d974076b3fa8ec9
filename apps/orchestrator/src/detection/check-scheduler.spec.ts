import { CheckScheduler } from './check-scheduler';

describe('CheckScheduler', () => {
  it('runs each job about once per interval and respects the concurrency bound', async () => {
    const s = new CheckScheduler(2);
    let inFlight = 0;
    let maxInFlight = 0;
    const counts = new Map<string, number>();
    for (let i = 0; i < 6; i++) {
      s.upsert({
        key: `j${i}`,
        intervalMs: 50,
        run: async () => {
          inFlight++;
          maxInFlight = Math.max(maxInFlight, inFlight);
          counts.set(`j${i}`, (counts.get(`j${i}`) ?? 0) + 1);
          await new Promise((r) => setTimeout(r, 5));
          inFlight--;
        },
      });
    }
    await new Promise((r) => setTimeout(r, 400));
    s.stop();
    expect(maxInFlight).toBeLessThanOrEqual(2);
    for (let i = 0; i < 6; i++) expect(counts.get(`j${i}`)).toBeGreaterThanOrEqual(3);
  });

  it('a removed job stops running', async () => {
    const s = new CheckScheduler(4);
    let n = 0;
    s.upsert({ key: 'a', intervalMs: 20, run: async () => void n++ });
    await new Promise((r) => setTimeout(r, 100));
    s.remove('a');
    const at = n;
    await new Promise((r) => setTimeout(r, 100));
    s.stop();
    expect(at).toBeGreaterThan(0);
    expect(n).toBeLessThanOrEqual(at + 1);
  });

  it('passes each run the time it was due; runs start close to it when slots are free', async () => {
    const s = new CheckScheduler(8);
    const lags: number[] = [];
    s.upsert({
      key: 'a',
      intervalMs: 30,
      run: async (dueAt) => void lags.push(Date.now() - dueAt),
    });
    await new Promise((r) => setTimeout(r, 200));
    s.stop();
    expect(lags.length).toBeGreaterThanOrEqual(4);
    for (const lag of lags) expect(lag).toBeGreaterThanOrEqual(0);
  });

  it('a job removed while it waits for a slot does not run', async () => {
    const s = new CheckScheduler(1);
    const ran: string[] = [];
    let release!: () => void;
    const blocker = new Promise<void>((r) => (release = r));
    // Due at once (the first run lands within one interval after `now`); the next run is far away.
    const dueNow = () => Date.now() - 3_599_999;
    s.upsert(
      { key: 'slow', intervalMs: 3_600_000, run: () => blocker.then(() => void ran.push('slow')) },
      dueNow(),
    );
    await new Promise((r) => setTimeout(r, 30));
    s.upsert({ key: 'queued', intervalMs: 3_600_000, run: async () => void ran.push('queued') }, dueNow());
    await new Promise((r) => setTimeout(r, 30));
    expect(s.inFlight).toBe(1);
    expect(s.backlog).toBe(1);
    s.remove('queued');
    release();
    await new Promise((r) => setTimeout(r, 50));
    s.stop();
    expect(ran).toEqual(['slow']);
  });

  it('a job that throws, synchronously or not, frees its slot and keeps its schedule', async () => {
    const s = new CheckScheduler(1);
    let syncThrows = 0;
    let rejects = 0;
    s.upsert({
      key: 'sync',
      intervalMs: 20,
      run: () => {
        syncThrows++;
        throw new Error('boom');
      },
    });
    s.upsert({
      key: 'async',
      intervalMs: 20,
      run: async () => {
        rejects++;
        throw new Error('boom');
      },
    });
    await new Promise((r) => setTimeout(r, 200));
    s.stop();
    expect(syncThrows).toBeGreaterThanOrEqual(3);
    expect(rejects).toBeGreaterThanOrEqual(3);
  });

  it('a new interval takes effect at once; the same interval only swaps the job', async () => {
    const s = new CheckScheduler(4);
    const runs: string[] = [];
    s.upsert(
      { key: 'a', intervalMs: 3_600_000, run: async () => void runs.push('old') },
      Date.now() - 3_599_999,
    );
    await new Promise((r) => setTimeout(r, 30));
    expect(runs).toEqual(['old']);
    s.upsert({ key: 'a', intervalMs: 3_600_000, run: async () => void runs.push('same-interval') });
    s.upsert({ key: 'a', intervalMs: 20, run: async () => void runs.push('new') });
    await new Promise((r) => setTimeout(r, 120));
    s.stop();
    expect(runs[0]).toBe('old');
    expect(runs.slice(1).length).toBeGreaterThanOrEqual(2);
    expect(new Set(runs.slice(1))).toEqual(new Set(['new']));
  });
});
