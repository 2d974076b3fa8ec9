import 'reflect-metadata'; // before @ha/contracts: its decorators read metadata at load time
import { roleAfterAction } from './action-runner';
import { mergeAssignments } from './agent';
import { ScenarioAssignment } from '@ha/contracts';

describe('roleAfterAction', () => {
  it.each([
    ['promote', 'replica', 'production'],
    ['demote', 'production', 'demoted'],
    ['fence', 'production', 'demoted'],
    ['resync', 'demoted', 'replica'],
    ['start-app', 'replica', 'replica'],
    ['ar-start', 'replica', 'replica'],
  ] as const)('a successful %s turns %s into %s', (action, before, after) => {
    expect(roleAfterAction(action, 'ok', before)).toBe(after);
  });

  it('a failed action leaves the role unchanged', () => {
    expect(roleAfterAction('demote', 'failed', 'production')).toBe('production');
    expect(roleAfterAction('promote', 'failed', 'replica')).toBe('replica');
  });
});

describe('mergeAssignments', () => {
  const a = (scenarioId: string, epoch: number): ScenarioAssignment => ({
    scenarioId,
    name: scenarioId,
    epoch,
    role: 'replica',
    productionNodeId: 'p',
    activeNodeId: 'p',
    leaseMs: 3000,
    peers: [],
    peerToken: 't',
  });

  it('keeps a stored assignment with a higher epoch than a lagging orchestrator sends', () => {
    const merged = mergeAssignments([a('s1', 5), a('s2', 1)], [a('s1', 4), a('s2', 2), a('s3', 1)]);
    expect(merged.map((m) => [m.scenarioId, m.epoch])).toEqual([
      ['s1', 5],
      ['s2', 2],
      ['s3', 1],
    ]);
  });
});
