/**
 * Check results use Nagios semantics everywhere: a user-defined script's exit code maps 1:1,
 * and the orchestrator's own network checks report the same four states.
 */
export const CHECK_STATUSES = ['ok', 'warning', 'critical', 'unknown'] as const;
export type CheckStatus = (typeof CHECK_STATUSES)[number];

/** Nagios plugin exit code → status. Anything outside 0..3 is UNKNOWN, as Nagios does. */
export function statusFromExitCode(code: number | null): CheckStatus {
  switch (code) {
    case 0:
      return 'ok';
    case 1:
      return 'warning';
    case 2:
      return 'critical';
    default:
      return 'unknown';
  }
}

export const VERDICTS = ['healthy', 'suspect', 'failed', 'unknown'] as const;
export type Verdict = (typeof VERDICTS)[number];
