/**
 * RFC 2136 UPDATE messages: the zone section, prerequisites (§2.4) and updates (§2.5), each
 * expressed as the class/type/TTL/RDATA combination the RFC assigns to it.
 */
import {
  encodeHeader,
  encodeQuestion,
  encodeRecord,
  OPCODE,
  RR_CLASS,
  RR_TYPE,
  WireRecord,
} from './dns-wire';

export type Prerequisite =
  | { kind: 'rrsetExists'; name: string; type: number }
  /** The RRset holds exactly these RDATAs (value-dependent, §2.4.2): a compare-and-swap guard. */
  | { kind: 'rrsetEquals'; name: string; type: number; rdatas: Buffer[] }
  | { kind: 'rrsetAbsent'; name: string; type: number }
  | { kind: 'nameInUse'; name: string }
  | { kind: 'nameNotInUse'; name: string };

export type UpdateOperation =
  | { kind: 'add'; name: string; type: number; ttl: number; rdata: Buffer }
  | { kind: 'deleteRRset'; name: string; type: number }
  | { kind: 'deleteName'; name: string }
  | { kind: 'deleteRecord'; name: string; type: number; rdata: Buffer };

export interface UpdateRequest {
  zone: string;
  prerequisites?: Prerequisite[];
  updates: UpdateOperation[];
}

const EMPTY = Buffer.alloc(0);

export function prerequisiteRecords(prerequisite: Prerequisite): WireRecord[] {
  const { name } = prerequisite;
  switch (prerequisite.kind) {
    case 'rrsetExists':
      return [{ name, type: prerequisite.type, class: RR_CLASS.ANY, ttl: 0, rdata: EMPTY }];
    case 'rrsetEquals':
      return prerequisite.rdatas.map((rdata) => ({
        name,
        type: prerequisite.type,
        class: RR_CLASS.IN,
        ttl: 0,
        rdata,
      }));
    case 'rrsetAbsent':
      return [{ name, type: prerequisite.type, class: RR_CLASS.NONE, ttl: 0, rdata: EMPTY }];
    case 'nameInUse':
      return [{ name, type: RR_TYPE.ANY, class: RR_CLASS.ANY, ttl: 0, rdata: EMPTY }];
    case 'nameNotInUse':
      return [{ name, type: RR_TYPE.ANY, class: RR_CLASS.NONE, ttl: 0, rdata: EMPTY }];
  }
}

export function updateRecord(update: UpdateOperation): WireRecord {
  const { name } = update;
  switch (update.kind) {
    case 'add':
      return { name, type: update.type, class: RR_CLASS.IN, ttl: update.ttl, rdata: update.rdata };
    case 'deleteRRset':
      return { name, type: update.type, class: RR_CLASS.ANY, ttl: 0, rdata: EMPTY };
    case 'deleteName':
      return { name, type: RR_TYPE.ANY, class: RR_CLASS.ANY, ttl: 0, rdata: EMPTY };
    case 'deleteRecord':
      return { name, type: update.type, class: RR_CLASS.NONE, ttl: 0, rdata: update.rdata };
  }
}

/** An unsigned UPDATE message (sign it with tsig.signMessage before sending). */
export function encodeUpdate(id: number, request: UpdateRequest): Buffer {
  const prerequisites = (request.prerequisites ?? []).flatMap(prerequisiteRecords);
  const updates = request.updates.map(updateRecord);
  return Buffer.concat([
    encodeHeader({ id, opcode: OPCODE.UPDATE, counts: [1, prerequisites.length, updates.length, 0] }),
    encodeQuestion({ name: request.zone, type: RR_TYPE.SOA, class: RR_CLASS.IN }),
    ...prerequisites.map(encodeRecord),
    ...updates.map(encodeRecord),
  ]);
}
