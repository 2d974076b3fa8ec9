/**
 * Which detector instance owns which node: rendezvous (highest random weight) hashing over the
 * live members. Every instance computes the same map from the same member list; when a member
 * leaves, only its nodes move, each to the member that was its backup (second highest weight), which
 * already had the node's heartbeats; when one joins, it takes about 1/n of the nodes.
 */
export interface DetectorMember {
  id: string;
  /** base URL agents send heartbeats to (ORCHESTRATOR_URL) */
  url: string;
}

/** 32-bit FNV-1a with a murmur3 finaliser: cheap, and well spread for similar strings. */
function weight(memberId: string, nodeId: string): number {
  let h = 0x811c9dc5;
  const s = `${memberId}/${nodeId}`;
  for (let i = 0; i < s.length; i++) {
    h ^= s.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

export class ShardMap {
  private readonly cache = new Map<string, DetectorMember[]>();
  readonly members: DetectorMember[];

  constructor(members: DetectorMember[]) {
    this.members = [...members].sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  }

  /** Owner first, then backup (fewer when there are fewer members). */
  ownersOf(nodeId: string): DetectorMember[] {
    let owners = this.cache.get(nodeId);
    if (!owners) {
      let first: DetectorMember | undefined;
      let second: DetectorMember | undefined;
      let w1 = -1;
      let w2 = -1;
      for (const m of this.members) {
        const w = weight(m.id, nodeId);
        if (w > w1 || (w === w1 && first && m.id < first.id)) {
          second = first;
          w2 = w1;
          first = m;
          w1 = w;
        } else if (w > w2) {
          second = m;
          w2 = w;
        }
      }
      owners = [first, second].filter((m): m is DetectorMember => m !== undefined);
      this.cache.set(nodeId, owners);
    }
    return owners;
  }

  ownerOf(nodeId: string): DetectorMember | undefined {
    return this.ownersOf(nodeId)[0];
  }

  /** Same members (ids and URLs), so the same map. */
  sameAs(members: DetectorMember[]): boolean {
    if (members.length !== this.members.length) return false;
    const sorted = [...members].sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
    return sorted.every((m, i) => m.id === this.members[i].id && m.url === this.members[i].url);
  }
}
