import { planFor } from '../operations/operation-plans';
import { isCronExpression } from '../scenarios/dtos/cron-expression.validator';
import { nextFireAt } from './ar-scheduler.service';

describe('Assured Recovery plan and schedule', () => {
  it('runs ar-snapshot only when asked, always ending with rewind + resume', () => {
    expect(planFor('ar-test', {})).toEqual(['ar-suspend', 'ar-start', 'ar-check', 'ar-rewind', 'ar-resume']);
    expect(planFor('ar-test', { snapshot: true })).toEqual([
      'ar-suspend',
      'ar-start',
      'ar-check',
      'ar-snapshot',
      'ar-rewind',
      'ar-resume',
    ]);
    expect(planFor('failover', { snapshot: true })).toContain('lock-epoch');
  });

  it('accepts cron expressions with or without seconds, and null; refuses anything else', () => {
    expect(isCronExpression('* * * * * *')).toBe(true);
    expect(isCronExpression('0 3 * * *')).toBe(true);
    expect(isCronExpression(null)).toBe(true);
    for (const bad of ['every day', '', '61 * * * *', 42, 'x'.repeat(129)])
      expect(isCronExpression(bad)).toBe(false);
  });

  it('computes the next fire time in the future', () => {
    const now = Date.now();
    const next = nextFireAt('* * * * * *')!;
    expect(next).toBeGreaterThan(now - 1);
    expect(next).toBeLessThanOrEqual(now + 1000);
    expect(nextFireAt('nonsense')).toBeNull();
  });
});
