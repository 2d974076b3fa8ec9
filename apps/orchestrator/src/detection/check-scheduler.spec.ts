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
});
