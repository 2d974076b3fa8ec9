/**
 * Whether a group's members serve from the same side. A member is on the `production` side while
 * its active node is its production node, on the `replica` side once a replica is active. A group
 * is `consistent` when every protected member is on one side, `split` when some are on each, and
 * `transitioning` while a member has an operation pending or running (a group failover moves its
 * members one after another: that is not a split). Stopped and starting members do not count.
 */
import { PROTECTED_STATES } from '../scenarios/scenario.types';
export const GROUP_CONSISTENCY = ['consistent', 'split', 'transitioning', 'inactive'] as const;
export type GroupConsistency = (typeof GROUP_CONSISTENCY)[number];
export type GroupSide = 'production' | 'replica';

export interface GroupMemberState {
  scenarioId: string;
  name: string;
  state: string;
  activeNodeId: string;
  productionNodeId: string;
  /** pending or running operation of the member, if any */
  operationId: string | null;
}

export interface GroupMemberSide extends GroupMemberState {
  /** null for a member that is not protected (stopped, starting, stopping) */
  side: GroupSide | null;
}

export interface GroupConsistencyResult {
  consistency: GroupConsistency;
  /** the side every protected member is on (consistent only) */
  side: GroupSide | null;
  reason: string;
  members: GroupMemberSide[];
}

export function sideOf(m: GroupMemberState): GroupSide | null {
  if (!PROTECTED_STATES.has(m.state)) return null;
  return m.activeNodeId === m.productionNodeId ? 'production' : 'replica';
}

export function groupConsistency(members: GroupMemberState[]): GroupConsistencyResult {
  const sided = members.map((m) => ({ ...m, side: sideOf(m) }));
  const names = (side: GroupSide) => sided.filter((m) => m.side === side).map((m) => m.name);
  const onProduction = names('production');
  const onReplica = names('replica');
  const busy = sided.filter((m) => m.operationId !== null);
  const result = (consistency: GroupConsistency, side: GroupSide | null, reason: string) => ({
    consistency,
    side,
    reason,
    members: sided,
  });
  if (busy.length > 0)
    return result(
      'transitioning',
      null,
      `an operation is pending or running on ${busy.map((m) => m.name).join(', ')}`,
    );
  if (onProduction.length === 0 && onReplica.length === 0)
    return result('inactive', null, 'no member is protected (all stopped or starting)');
  if (onProduction.length > 0 && onReplica.length > 0)
    return result(
      'split',
      null,
      `active on production: ${onProduction.join(', ')}; active on a replica: ${onReplica.join(', ')}`,
    );
  const side: GroupSide = onReplica.length > 0 ? 'replica' : 'production';
  return result('consistent', side, `every protected member is active on the ${side} side`);
}
