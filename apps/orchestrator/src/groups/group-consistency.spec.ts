import { groupConsistency, GroupMemberState } from './group-consistency';

const m = (name: string, over: Partial<GroupMemberState> = {}): GroupMemberState => ({
  scenarioId: `id-${name}`,
  name,
  state: 'running',
  activeNodeId: `${name}-prod`,
  productionNodeId: `${name}-prod`,
  operationId: null,
  ...over,
});
const onReplica = (name: string, over: Partial<GroupMemberState> = {}) =>
  m(name, { state: 'failed_over', activeNodeId: `${name}-replica`, ...over });

describe('groupConsistency', () => {
  it('all on production, all on a replica: consistent with that side', () => {
    expect(groupConsistency([m('a'), m('b')])).toMatchObject({
      consistency: 'consistent',
      side: 'production',
    });
    expect(groupConsistency([onReplica('a'), onReplica('b')])).toMatchObject({
      consistency: 'consistent',
      side: 'replica',
    });
  });

  it('some on each side: split, naming both', () => {
    const r = groupConsistency([m('a'), onReplica('b'), m('c', { state: 'degraded' })]);
    expect(r).toMatchObject({ consistency: 'split', side: null });
    expect(r.reason).toBe('active on production: a, c; active on a replica: b');
    expect(r.members.map((x) => x.side)).toEqual(['production', 'replica', 'production']);
  });

  it('a member operation running: transitioning, not split (a group failover moves members in turn)', () => {
    const r = groupConsistency([m('a'), onReplica('b', { operationId: 'op-1' })]);
    expect(r.consistency).toBe('transitioning');
    expect(r.reason).toMatch(/b$/);
  });

  it('stopped and starting members do not count; none protected is inactive', () => {
    expect(groupConsistency([m('a'), onReplica('b', { state: 'stopped' })])).toMatchObject({
      consistency: 'consistent',
      side: 'production',
    });
    expect(groupConsistency([m('a', { state: 'stopped' }), m('b', { state: 'starting' })]).consistency).toBe(
      'inactive',
    );
    expect(groupConsistency([]).consistency).toBe('inactive');
  });
});
