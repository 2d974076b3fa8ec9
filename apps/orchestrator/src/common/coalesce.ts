/**
 * Coalescing of concurrent calls, for the paths a mass failover takes a thousand times at once
 * (agent calls, node look-ups). Pure plumbing, no domain logic.
 */

interface Waiter<I, O> {
  input: I;
  resolve: (o: O) => void;
  reject: (e: unknown) => void;
}

/**
 * Calls for the same key share runs: calls made in the same turn of the event loop go out in one
 * run; calls made while a run for that key is in flight wait for the next one, which starts when
 * the current one ends and carries all of them. At most one run per key is in flight, and a run
 * always starts after the calls it answers were made (never an older answer). `run` returns one
 * result per input, in order; a result that is an Error rejects that call only; a thrown error
 * rejects every call of the run.
 */
export class KeyedBatcher<K, I, O> {
  private readonly queued = new Map<K, Waiter<I, O>[]>();
  private readonly running = new Set<K>();

  constructor(
    private readonly run: (key: K, inputs: I[]) => Promise<(O | Error)[]>,
    private readonly maxBatch = 1000,
  ) {}

  call(key: K, input: I): Promise<O> {
    return new Promise<O>((resolve, reject) => {
      let q = this.queued.get(key);
      if (!q) this.queued.set(key, (q = []));
      q.push({ input, resolve, reject });
      if (q.length === 1 && !this.running.has(key)) setImmediate(() => void this.drain(key));
    });
  }

  private async drain(key: K): Promise<void> {
    if (this.running.has(key)) return;
    this.running.add(key);
    try {
      for (;;) {
        const q = this.queued.get(key);
        if (!q || q.length === 0) break;
        const batch = q.splice(0, this.maxBatch);
        if (q.length === 0) this.queued.delete(key);
        try {
          const out = await this.run(
            key,
            batch.map((w) => w.input),
          );
          batch.forEach((w, i) => {
            const r = out[i];
            if (i >= out.length) w.reject(new Error('no result for this call'));
            else if (r instanceof Error) w.reject(r);
            else w.resolve(r);
          });
        } catch (err) {
          for (const w of batch) w.reject(err);
        }
      }
    } finally {
      this.running.delete(key);
    }
  }
}

/** Look-ups by id made in the same turn of the event loop go out as one `loadMany`. */
export class TickLoader<V> {
  private readonly batcher: KeyedBatcher<'all', string, V | undefined>;

  constructor(loadMany: (ids: string[]) => Promise<Map<string, V>>) {
    this.batcher = new KeyedBatcher<'all', string, V | undefined>(async (_key, ids) => {
      const found = await loadMany([...new Set(ids)]);
      return ids.map((id) => found.get(id));
    });
  }

  load(id: string): Promise<V | undefined> {
    return this.batcher.call('all', id);
  }
}

/** Runs `fn` over `items` with at most `limit` at a time; results in order (never rejects). */
export async function mapLimit<T, R>(
  items: T[],
  limit: number,
  fn: (item: T, index: number) => Promise<R>,
): Promise<PromiseSettledResult<R>[]> {
  const out: PromiseSettledResult<R>[] = new Array(items.length);
  let next = 0;
  const lane = async () => {
    while (next < items.length) {
      const i = next++;
      try {
        out[i] = { status: 'fulfilled', value: await fn(items[i], i) };
      } catch (reason) {
        out[i] = { status: 'rejected', reason };
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, lane));
  return out;
}
