/**
 * What one record write becomes on an RFC 2136 server: one UPDATE that replaces the record and
 * its epoch marker together, guarded by the marker the writer last read.
 */
import { InvalidInputError } from '../../common/errors';
import { DnsRecordType, DnsRecordWrite } from '../dns-provider.interface';
import {
  epochProblem,
  hostNameProblem,
  isDnsRecordType,
  isInZone,
  normalizeName,
  normalizeRecordValue,
  ttlProblem,
} from '../embedded/dns-name.util';
import { rdataA, rdataAAAA, rdataName, rdataTxt, RR_TYPE } from './dns-wire';
import { epochMarkerName, formatEpochMarker } from './epoch-marker';
import { UpdateOperation, UpdateRequest } from './update-message';

/** Types a write of the given type displaces at the same name (a CNAME owner holds no other data). */
const DISPLACED: Record<DnsRecordType, DnsRecordType[]> = {
  A: ['CNAME'],
  AAAA: ['CNAME'],
  CNAME: ['A', 'AAAA'],
};

/** Validate and normalize a write; InvalidInputError names the wrong field. */
export function normalizeWrite(write: DnsRecordWrite): DnsRecordWrite {
  const zone = normalizeName(String(write.zone ?? ''));
  const zoneProblem = hostNameProblem(zone);
  if (zoneProblem) throw new InvalidInputError(`zone ${zoneProblem}`, 'zone');
  const name = normalizeName(String(write.name ?? ''));
  const nameProblem = hostNameProblem(name);
  if (nameProblem) throw new InvalidInputError(`name ${nameProblem}`, 'name');
  if (!isInZone(name, zone)) throw new InvalidInputError(`name ${name} is not inside zone ${zone}`, 'name');
  if (!isDnsRecordType(write.type)) throw new InvalidInputError('type must be one of A, AAAA, CNAME', 'type');
  if (write.type === 'CNAME' && name === zone) {
    throw new InvalidInputError('a CNAME cannot sit at the zone apex', 'name');
  }
  const ttl = ttlProblem(write.ttl);
  if (ttl) throw new InvalidInputError(`ttl ${ttl}`, 'ttl');
  const epoch = epochProblem(write.epoch);
  if (epoch) throw new InvalidInputError(`epoch ${epoch}`, 'epoch');
  // The scenario id travels inside the marker's TXT string, space-separated.
  if (typeof write.scenarioId !== 'string' || !/^\S{1,200}$/.test(write.scenarioId)) {
    throw new InvalidInputError('scenarioId must be 1-200 non-space characters', 'scenarioId');
  }
  const value = normalizeRecordValue(write.type, write.value);
  if ('problem' in value) throw new InvalidInputError(`value ${value.problem}`, 'value');
  return { ...write, zone, name, value: value.value };
}

export function recordRdata(type: DnsRecordType, value: string): Buffer {
  switch (type) {
    case 'A':
      return rdataA(value);
    case 'AAAA':
      return rdataAAAA(value);
    case 'CNAME':
      return rdataName(value);
  }
}

/**
 * The UPDATE for a normalized write. `expectedMarker` is the marker RRset as last read (TXT
 * RDATAs; empty when absent): the update applies only if the server still holds exactly that.
 */
export function buildRecordUpdate(write: DnsRecordWrite, expectedMarker: Buffer[]): UpdateRequest {
  const marker = epochMarkerName(write.name);
  const type = RR_TYPE[write.type];
  const updates: UpdateOperation[] = [
    ...DISPLACED[write.type].map((displaced) => ({
      kind: 'deleteRRset' as const,
      name: write.name,
      type: RR_TYPE[displaced],
    })),
    { kind: 'deleteRRset', name: write.name, type },
    { kind: 'add', name: write.name, type, ttl: write.ttl, rdata: recordRdata(write.type, write.value) },
    { kind: 'deleteRRset', name: marker, type: RR_TYPE.TXT },
    {
      kind: 'add',
      name: marker,
      type: RR_TYPE.TXT,
      ttl: write.ttl,
      rdata: rdataTxt([formatEpochMarker(write.epoch, write.scenarioId)]),
    },
  ];
  return {
    zone: write.zone,
    prerequisites: [
      expectedMarker.length > 0
        ? { kind: 'rrsetEquals', name: marker, type: RR_TYPE.TXT, rdatas: expectedMarker }
        : { kind: 'rrsetAbsent', name: marker, type: RR_TYPE.TXT },
    ],
    updates,
  };
}
