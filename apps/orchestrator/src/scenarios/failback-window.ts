/**
 * Failback policy helpers (pure): its normal form, and whether its window is open at a moment. A
 * window opens at each time its cron expression names (in its time zone, UTC by default) and stays
 * open durationMinutes.
 */
import { CronTime } from 'cron';
import { InvalidInputError } from '../common/errors';
import { FailbackPolicy } from './scenario.types';

export function normalizeFailback(f: FailbackPolicy | undefined): FailbackPolicy | undefined {
  if (!f) return undefined;
  if (f.mode === 'automatic' && !f.window)
    throw new InvalidInputError(
      'policy.failback.window: automatic failback needs a window (cron and durationMinutes)',
      'policy.failback.window',
    );
  if (f.window) {
    // Syntax is checked by the DTO; a valid expression may still never fire (30 February).
    try {
      new CronTime(f.window.cron, f.window.timezone ?? 'UTC').sendAt();
    } catch {
      throw new InvalidInputError(
        `policy.failback.window.cron: ${f.window.cron} never opens a window`,
        'policy.failback.window.cron',
      );
    }
  }
  return {
    mode: f.mode,
    window: f.window
      ? {
          cron: f.window.cron,
          durationMinutes: f.window.durationMinutes,
          ...(f.window.timezone && { timezone: f.window.timezone }),
        }
      : null,
    maxLagSeconds: f.maxLagSeconds ?? 0,
  };
}

/** The window open at `now`, if any: when it opened and when it closes. */
export function openFailbackWindow(
  f: FailbackPolicy | undefined,
  now: number,
): { openedAt: number; closesAt: number } | null {
  const w = f?.window;
  if (!w) return null;
  const length = w.durationMinutes * 60_000;
  try {
    // The first opening after (now - length): if it is not in the future, that window is still open.
    const opened = new CronTime(w.cron, w.timezone ?? 'UTC')
      .getNextDateFrom(new Date(now - length), w.timezone ?? 'UTC')
      .toMillis();
    return opened <= now ? { openedAt: opened, closesAt: opened + length } : null;
  } catch {
    // A stored expression that no longer evaluates (refused at the API since): no window, never a throw
    // into the detector's loop.
    return null;
  }
}
