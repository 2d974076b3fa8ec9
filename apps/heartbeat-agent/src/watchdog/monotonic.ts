/**
 * CLOCK_MONOTONIC in milliseconds, the same clock in every process of the host (performance.now()
 * has a per-process origin), so the agent can hand the watchdog an absolute deadline.
 */
export function monotonicMs(): number {
  return Number(process.hrtime.bigint() / 1000n) / 1000;
}
