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
 * Calls for the same key made in the same turn of the event loop go out as one run (`run` gets
 * all their inputs). A run always starts after the calls it answers were made, so it never hands
 * out an older answer; runs of one key may overlap (a slow run never holds up the next calls).
 * `run` returns one result per input, in order; a result that is an Error rejects that call only;
 * a thrown error rejects every call of the run.
 */
export class KeyedBatcher<K, I, O> {
  private readonly collecting = new Map<K, Waiter<I, O>[]>();

  constructor(
    private readonly run: (key: K, inputs: I[]) => Promise<(O | Error)[]>,
    private readonly maxBatch = 1000,
  ) {}

  call(key: K, input: I): Promise<O> {
    return new Promise<O>((resolve, reject) => {
      let group = this.collecting.get(key);
      if (!group) {
        this.collecting.set(key, (group = []));
        const mine = group;
        setImmediate(() => {
          if (this.collecting.get(key) === mine) this.collecting.delete(key);
          void this.flush(key, mine);
        });
      }
      group.push({ input, resolve, reject });
      if (group.length >= this.maxBatch) {
        // Full: it goes now (its scheduled flush finds it gone); later calls start a new group.
        this.collecting.delete(key);
        const full = group.splice(0);
        void this.flush(key, full);
      }
    });
  }

  private async flush(key: K, batch: Waiter<I, O>[]): Promise<void> {
    if (batch.length === 0) return;
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
