import { KeyedBatcher, mapLimit, TickLoader } from './coalesce';

const tick = () => new Promise((r) => setImmediate(r));

describe('KeyedBatcher', () => {
  it('calls of one turn share one run per key; a slow run does not hold up the next calls', async () => {
    const runs: { key: string; inputs: number[] }[] = [];
    let release: () => void = () => undefined;
    const b = new KeyedBatcher<string, number, string>(async (key, inputs) => {
      runs.push({ key, inputs });
      if (runs.length === 1) await new Promise<void>((r) => (release = r));
      return inputs.map((i) => `${key}:${i}`);
    });
    const first = [b.call('a', 1), b.call('a', 2), b.call('b', 3)];
    await tick();
    expect(runs).toEqual([
      { key: 'a', inputs: [1, 2] },
      { key: 'b', inputs: [3] },
    ]);
    // The first 'a' run is still going: these go out together in a run of their own at once.
    const later = [b.call('a', 4), b.call('a', 5)];
    expect(await Promise.all(later)).toEqual(['a:4', 'a:5']);
    expect(runs[2]).toEqual({ key: 'a', inputs: [4, 5] });
    release();
    expect(await Promise.all(first)).toEqual(['a:1', 'a:2', 'b:3']);
  });

  it('an Error result rejects its own call only; a thrown error rejects the whole run; a short answer rejects the missing ones', async () => {
    const b = new KeyedBatcher<string, number, number>(async (key, inputs) => {
      if (key === 'throw') throw new Error('agent down');
      if (key === 'short') return inputs.slice(0, 1);
      return inputs.map((i) => (i < 0 ? new Error(`bad ${i}`) : i * 10));
    });
    const results = await Promise.allSettled([
      b.call('ok', 1),
      b.call('ok', -2),
      b.call('throw', 3),
      b.call('throw', 4),
      b.call('short', 5),
      b.call('short', 6),
    ]);
    expect(results.map((r) => (r.status === 'fulfilled' ? r.value : (r.reason as Error).message))).toEqual([
      10,
      'bad -2',
      'agent down',
      'agent down',
      5,
      'no result for this call',
    ]);
  });

  it('splits runs at maxBatch', async () => {
    const sizes: number[] = [];
    const b = new KeyedBatcher<string, number, number>(async (_k, inputs) => {
      sizes.push(inputs.length);
      return inputs;
    }, 3);
    await Promise.all(Array.from({ length: 7 }, (_, i) => b.call('k', i)));
    expect(sizes).toEqual([3, 3, 1]);
  });
});

describe('TickLoader', () => {
  it('loads the ids asked for in one turn with one call (each id once) and answers undefined for missing ones', async () => {
    const calls: string[][] = [];
    const l = new TickLoader<string>(async (ids) => {
      calls.push(ids);
      return new Map(ids.filter((id) => id !== 'x').map((id) => [id, id.toUpperCase()]));
    });
    expect(await Promise.all([l.load('a'), l.load('b'), l.load('a'), l.load('x')])).toEqual([
      'A',
      'B',
      'A',
      undefined,
    ]);
    expect(calls).toEqual([['a', 'b', 'x']]);
  });
});

describe('mapLimit', () => {
  it('runs at most `limit` at once, keeps the order and settles every item', async () => {
    let running = 0;
    let peak = 0;
    const out = await mapLimit([1, 2, 3, 4, 5, 6], 2, async (n) => {
      running++;
      peak = Math.max(peak, running);
      await tick();
      running--;
      if (n === 4) throw new Error('four');
      return n * 2;
    });
    expect(peak).toBe(2);
    expect(out.map((r) => (r.status === 'fulfilled' ? r.value : (r.reason as Error).message))).toEqual([
      2,
      4,
      6,
      'four',
      10,
      12,
    ]);
  });
});
