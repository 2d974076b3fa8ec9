import { CheckTracker } from './check-tracker';

describe('CheckTracker', () => {
  it('fails only after failureThreshold consecutive criticals', () => {
    const t = new CheckTracker(3, 2);
    t.record('ok', 1);
    expect(t.record('critical', 2)).toBe('passing');
    expect(t.isSuspect).toBe(true);
    expect(t.record('critical', 3)).toBe('passing');
    expect(t.record('critical', 4)).toBe('failing');
  });

  it('a success in between resets the failure count', () => {
    const t = new CheckTracker(2, 1);
    t.record('critical', 1);
    t.record('ok', 2);
    expect(t.record('critical', 3)).toBe('passing');
  });

  it('recovers only after recoveryThreshold consecutive successes', () => {
    const t = new CheckTracker(1, 3);
    expect(t.record('critical', 1)).toBe('failing');
    expect(t.record('ok', 2)).toBe('failing');
    expect(t.record('ok', 3)).toBe('failing');
    expect(t.record('ok', 4)).toBe('passing');
  });

  it('warning is not a failure', () => {
    const t = new CheckTracker(1, 1);
    expect(t.record('warning', 1)).toBe('warning');
    expect(t.consecutiveFailures).toBe(0);
  });

  it('unknown changes nothing', () => {
    const t = new CheckTracker(1, 1);
    t.record('ok', 1);
    expect(t.record('unknown', 2)).toBe('passing');
    t.record('critical', 3);
    expect(t.record('unknown', 4)).toBe('failing');
  });

  it('warnings count toward recovery and leave the check in warning', () => {
    const t = new CheckTracker(1, 2);
    t.record('critical', 1);
    expect(t.record('warning', 2)).toBe('failing');
    expect(t.record('warning', 3)).toBe('warning');
  });

  it('unknown neither breaks nor extends a run of failures', () => {
    const t = new CheckTracker(3, 1);
    t.record('critical', 1);
    t.record('unknown', 2);
    t.record('critical', 3);
    expect(t.consecutiveFailures).toBe(2);
    expect(t.isSuspect).toBe(true);
    expect(t.record('critical', 4)).toBe('failing');
    expect(t.isSuspect).toBe(false);
  });
});
