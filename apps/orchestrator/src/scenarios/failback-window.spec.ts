import { normalizeFailback, openFailbackWindow } from './failback-window';

const at = (iso: string) => new Date(iso).getTime();

describe('failback window', () => {
  const nightly = { mode: 'automatic' as const, window: { cron: '0 0 2 * * *', durationMinutes: 120 } };

  it('is open from each opening for its duration, closed otherwise', () => {
    expect(openFailbackWindow(nightly, at('2026-12-03T02:00:00Z'))).toEqual({
      openedAt: at('2026-12-03T02:00:00Z'),
      closesAt: at('2026-12-03T04:00:00Z'),
    });
    expect(openFailbackWindow(nightly, at('2026-12-03T03:59:59Z'))?.openedAt).toBe(
      at('2026-12-03T02:00:00Z'),
    );
    expect(openFailbackWindow(nightly, at('2026-12-03T04:00:01Z'))).toBeNull();
    expect(openFailbackWindow(nightly, at('2026-12-03T01:59:59Z'))).toBeNull();
  });

  it('reads the cron expression in its time zone', () => {
    const paris = { ...nightly, window: { ...nightly.window, timezone: 'Europe/Paris' } };
    // 02:00 in Paris is 01:00 UTC in winter.
    expect(openFailbackWindow(paris, at('2026-12-03T01:30:00Z'))?.openedAt).toBe(at('2026-12-03T01:00:00Z'));
    expect(openFailbackWindow(paris, at('2026-12-03T03:30:00Z'))).toBeNull();
  });

  it('weekdays only: closed on Saturday', () => {
    const weekdays = { ...nightly, window: { cron: '0 0 2 * * 1-5', durationMinutes: 60 } };
    expect(openFailbackWindow(weekdays, at('2026-12-04T02:30:00Z'))).not.toBeNull(); // Friday
    expect(openFailbackWindow(weekdays, at('2026-12-05T02:30:00Z'))).toBeNull(); // Saturday
  });

  it('no window, no opening; automatic without a window is refused naming the field', () => {
    expect(openFailbackWindow({ mode: 'manual' }, Date.now())).toBeNull();
    expect(openFailbackWindow(undefined, Date.now())).toBeNull();
    expect(() => normalizeFailback({ mode: 'automatic' })).toThrow(
      expect.objectContaining({ field: 'policy.failback.window' }),
    );
    expect(normalizeFailback({ mode: 'manual' })).toEqual({ mode: 'manual', window: null, maxLagSeconds: 0 });
  });

  it('an expression that never fires (30 February) is refused at the API and never throws later', () => {
    const never = { mode: 'automatic' as const, window: { cron: '0 0 0 30 2 *', durationMinutes: 60 } };
    expect(() => normalizeFailback(never)).toThrow(
      expect.objectContaining({ field: 'policy.failback.window.cron' }),
    );
    expect(openFailbackWindow(never, Date.now())).toBeNull();
  });
});
