import { windowCovers, windowState } from './maintenance.service';

const at = (s: number) => new Date(Date.UTC(2026, 11, 3, 12, 0, s));
const NOW = at(30).getTime();
const w = (scopeType: 'node' | 'scenario' | 'group', scopeId: string, from = 0, to = 60) => ({
  scopeType,
  scopeId,
  startsAt: at(from),
  endsAt: at(to),
});
const groups = new Map([['g1', ['s1', 's2']]]);

describe('maintenance windows (pure)', () => {
  it('a scenario window covers that scenario only', () => {
    expect(windowCovers(w('scenario', 's1'), 's1', 'n1', groups, NOW)).toBe(true);
    expect(windowCovers(w('scenario', 's1'), 's3', 'n1', groups, NOW)).toBe(false);
  });

  it('a node window covers the scenarios that node is active for, not those it only replicates', () => {
    expect(windowCovers(w('node', 'n1'), 's1', 'n1', groups, NOW)).toBe(true);
    expect(windowCovers(w('node', 'n2'), 's1', 'n1', groups, NOW)).toBe(false);
  });

  it('a group window covers its members', () => {
    expect(windowCovers(w('group', 'g1'), 's2', 'n9', groups, NOW)).toBe(true);
    expect(windowCovers(w('group', 'g1'), 's3', 'n9', groups, NOW)).toBe(false);
    expect(windowCovers(w('group', 'g2'), 's1', 'n9', groups, NOW)).toBe(false);
  });

  it('only while it lasts: not before its start, not from its end on', () => {
    expect(windowCovers(w('scenario', 's1', 31, 60), 's1', 'n1', groups, NOW)).toBe(false);
    expect(windowCovers(w('scenario', 's1', 0, 30), 's1', 'n1', groups, NOW)).toBe(false);
    expect(windowCovers(w('scenario', 's1', 30, 31), 's1', 'n1', groups, NOW)).toBe(true);
  });

  it('states', () => {
    const win = (from: number, to: number) => ({ ...w('node', 'n1', from, to) }) as never;
    expect(windowState(win(31, 60), NOW)).toBe('scheduled');
    expect(windowState(win(0, 60), NOW)).toBe('active');
    expect(windowState(win(0, 30), NOW)).toBe('ended');
  });
});
