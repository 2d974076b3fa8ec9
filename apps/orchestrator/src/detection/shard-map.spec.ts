import { randomUUID } from 'node:crypto';
import { DetectorMember, ShardMap } from './shard-map';

const member = (id: string): DetectorMember => ({ id, url: `http://${id}:8080` });
const nodes = Array.from({ length: 3000 }, () => randomUUID());

describe('ShardMap (rendezvous hashing of nodes to detector instances)', () => {
  it('spreads nodes about evenly and every instance computes the same map', () => {
    const a = new ShardMap([member('i1'), member('i2'), member('i3')]);
    const b = new ShardMap([member('i3'), member('i1'), member('i2')]);
    const counts = new Map<string, number>();
    for (const n of nodes) {
      const owners = a.ownersOf(n);
      expect(owners).toHaveLength(2);
      expect(owners[0].id).not.toBe(owners[1].id);
      expect(b.ownersOf(n).map((m) => m.id)).toEqual(owners.map((m) => m.id));
      counts.set(owners[0].id, (counts.get(owners[0].id) ?? 0) + 1);
    }
    for (const c of counts.values()) expect(Math.abs(c - 1000)).toBeLessThan(150);
  });

  it('a member leaving moves only its nodes, each to its backup', () => {
    const before = new ShardMap([member('i1'), member('i2'), member('i3')]);
    const after = new ShardMap([member('i1'), member('i3')]);
    for (const n of nodes) {
      const [owner, backup] = before.ownersOf(n);
      if (owner.id !== 'i2') expect(after.ownerOf(n)!.id).toBe(owner.id);
      else expect(after.ownerOf(n)!.id).toBe(backup.id);
    }
  });

  it('a member joining takes about a third and moves nothing between the others', () => {
    const before = new ShardMap([member('i1'), member('i2')]);
    const after = new ShardMap([member('i1'), member('i2'), member('i3')]);
    let taken = 0;
    for (const n of nodes) {
      const now = after.ownerOf(n)!.id;
      if (now === 'i3') taken++;
      else expect(now).toBe(before.ownerOf(n)!.id);
    }
    expect(Math.abs(taken - 1000)).toBeLessThan(150);
  });

  it('one member owns everything, with no backup; none owns nothing', () => {
    expect(new ShardMap([member('solo')]).ownersOf(nodes[0]).map((m) => m.id)).toEqual(['solo']);
    expect(new ShardMap([]).ownersOf(nodes[0])).toEqual([]);
    expect(new ShardMap([member('a'), member('b')]).sameAs([member('b'), member('a')])).toBe(true);
    expect(new ShardMap([member('a')]).sameAs([{ id: 'a', url: 'http://other' }])).toBe(false);
  });
});
