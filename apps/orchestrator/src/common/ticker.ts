/**
 * A background job run every `ms` on one instance's timer: never two runs at once (a slow run
 * skips the ticks it overlaps), errors logged as `<what> not run`, unref'd so it never holds the
 * process open. Returns the stop function for onApplicationShutdown.
 */
import type { Logger } from 'pino';

export function startTicker(ms: number, run: () => Promise<unknown>, log: Logger, what: string): () => void {
  let running = false;
  const timer = setInterval(() => {
    if (running) return;
    running = true;
    void run()
      .catch((err: Error) => log.warn({ err: err.message }, `${what} not run`))
      .finally(() => (running = false));
  }, ms);
  timer.unref();
  return () => clearInterval(timer);
}
