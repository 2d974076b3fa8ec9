/**
 * Minimal DNS wire format (RFC 1035 §4) for UPDATE messages and TSIG, which dns2's Packet cannot
 * encode (no opcode-5 sections, no TSIG type). Names are written uncompressed; the decoder
 * follows compression pointers, since servers use them in responses.
 */
import { canonicalIpv6 } from '../embedded/dns-name.util';

export const RR_TYPE = {
  A: 1,
  NS: 2,
  CNAME: 5,
  SOA: 6,
  TXT: 16,
  AAAA: 28,
  OPT: 41,
  TSIG: 250,
  ANY: 255,
} as const;
export const RR_CLASS = { IN: 1, NONE: 254, ANY: 255 } as const;
export const OPCODE = { QUERY: 0, UPDATE: 5 } as const;

/** Header RCODEs (RFC 1035, RFC 2136 §2.2). */
export const RCODE = {
  NOERROR: 0,
  FORMERR: 1,
  SERVFAIL: 2,
  NXDOMAIN: 3,
  NOTIMP: 4,
  REFUSED: 5,
  YXDOMAIN: 6,
  YXRRSET: 7,
  NXRRSET: 8,
  NOTAUTH: 9,
  NOTZONE: 10,
} as const;

/** Errors carried in the TSIG record's Error field (RFC 8945 §3). */
export const TSIG_ERROR = {
  BADSIG: 16,
  BADKEY: 17,
  BADTIME: 18,
  BADMODE: 19,
  BADNAME: 20,
  BADALG: 21,
  BADTRUNC: 22,
} as const;

const nameOf = (table: Record<string, number>, code: number, fallback: string) =>
  Object.entries(table).find(([, value]) => value === code)?.[0] ?? `${fallback}${code}`;
export const rcodeName = (code: number) => nameOf(RCODE, code, 'RCODE');
export const tsigErrorName = (code: number) => (code === 0 ? 'NOERROR' : nameOf(TSIG_ERROR, code, 'TSIGERR'));

export interface DnsHeader {
  id: number;
  qr: boolean;
  opcode: number;
  aa: boolean;
  tc: boolean;
  rd: boolean;
  ra: boolean;
  rcode: number;
  /** QD/ZO, AN/PR, NS/UP, AR counts. */
  counts: [number, number, number, number];
}

export interface Question {
  name: string;
  type: number;
  class: number;
}

export interface WireRecord extends Question {
  ttl: number;
  rdata: Buffer;
}

export interface DecodedRecord extends WireRecord {
  /** Byte offsets of the record within the message, and of its RDATA. */
  offset: number;
  rdataOffset: number;
  end: number;
}

export interface DecodedMessage {
  header: DnsHeader;
  /** The zone section of an UPDATE. */
  questions: Question[];
  /** Prerequisites of an UPDATE. */
  answers: DecodedRecord[];
  /** Updates of an UPDATE. */
  authorities: DecodedRecord[];
  additionals: DecodedRecord[];
}

export class DnsWireError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'DnsWireError';
  }
}

export function encodeHeader(
  header: Pick<DnsHeader, 'id' | 'opcode' | 'counts'> & Partial<DnsHeader>,
): Buffer {
  const out = Buffer.alloc(12);
  out.writeUInt16BE(header.id & 0xffff, 0);
  const flags =
    (header.qr ? 0x8000 : 0) |
    ((header.opcode & 0xf) << 11) |
    (header.aa ? 0x0400 : 0) |
    (header.tc ? 0x0200 : 0) |
    (header.rd ? 0x0100 : 0) |
    (header.ra ? 0x0080 : 0) |
    ((header.rcode ?? 0) & 0xf);
  out.writeUInt16BE(flags, 2);
  header.counts.forEach((count, i) => out.writeUInt16BE(count, 4 + 2 * i));
  return out;
}

export function decodeHeader(message: Buffer): DnsHeader {
  if (message.length < 12)
    throw new DnsWireError(`message of ${message.length} octets is shorter than a header`);
  const flags = message.readUInt16BE(2);
  return {
    id: message.readUInt16BE(0),
    qr: (flags & 0x8000) !== 0,
    opcode: (flags >> 11) & 0xf,
    aa: (flags & 0x0400) !== 0,
    tc: (flags & 0x0200) !== 0,
    rd: (flags & 0x0100) !== 0,
    ra: (flags & 0x0080) !== 0,
    rcode: flags & 0xf,
    counts: [
      message.readUInt16BE(4),
      message.readUInt16BE(6),
      message.readUInt16BE(8),
      message.readUInt16BE(10),
    ],
  };
}

/**
 * Uncompressed wire name. `canonical` lower-cases it (RFC 4034 §6.2), as the TSIG MAC requires
 * for the key and algorithm names. '' or '.' is the root.
 */
export function encodeName(name: string, canonical = false): Buffer {
  const text = name.endsWith('.') ? name.slice(0, -1) : name;
  const labels = text === '' ? [] : text.split('.');
  const parts: Buffer[] = [];
  for (const label of labels) {
    const bytes = Buffer.from(canonical ? label.toLowerCase() : label, 'latin1');
    if (bytes.length === 0) throw new DnsWireError(`name "${name}" has an empty label`);
    if (bytes.length > 63) throw new DnsWireError(`name "${name}" has a label longer than 63 octets`);
    parts.push(Buffer.from([bytes.length]), bytes);
  }
  parts.push(Buffer.from([0]));
  const out = Buffer.concat(parts);
  if (out.length > 255) throw new DnsWireError(`name "${name}" is longer than 255 octets`);
  return out;
}

/** Read a possibly compressed name; `end` is the offset just after it in the original position. */
export function decodeName(message: Buffer, offset: number): { name: string; end: number } {
  const labels: string[] = [];
  let position = offset;
  let end: number | undefined;
  let jumps = 0;
  let octets = 1;
  for (;;) {
    if (position >= message.length) throw new DnsWireError('name runs past the end of the message');
    const length = message[position];
    if ((length & 0xc0) === 0xc0) {
      if (position + 1 >= message.length) throw new DnsWireError('truncated compression pointer');
      if (++jumps > 64) throw new DnsWireError('compression pointer loop');
      end ??= position + 2;
      position = ((length & 0x3f) << 8) | message[position + 1];
      continue;
    }
    if (length & 0xc0) throw new DnsWireError(`invalid label length octet 0x${length.toString(16)}`);
    if (length === 0) {
      end ??= position + 1;
      break;
    }
    if (position + 1 + length > message.length)
      throw new DnsWireError('label runs past the end of the message');
    octets += length + 1;
    if (octets > 255) throw new DnsWireError('name longer than 255 octets');
    labels.push(message.toString('latin1', position + 1, position + 1 + length));
    position += 1 + length;
  }
  return { name: labels.join('.'), end };
}

export function encodeQuestion(question: Question): Buffer {
  const tail = Buffer.alloc(4);
  tail.writeUInt16BE(question.type, 0);
  tail.writeUInt16BE(question.class, 2);
  return Buffer.concat([encodeName(question.name), tail]);
}

export function encodeRecord(record: WireRecord): Buffer {
  if (record.rdata.length > 0xffff) throw new DnsWireError('RDATA longer than 65535 octets');
  const fixed = Buffer.alloc(10);
  fixed.writeUInt16BE(record.type, 0);
  fixed.writeUInt16BE(record.class, 2);
  fixed.writeUInt32BE(record.ttl >>> 0, 4);
  fixed.writeUInt16BE(record.rdata.length, 8);
  return Buffer.concat([encodeName(record.name), fixed, record.rdata]);
}

/** Parse a whole message; throws DnsWireError on anything malformed. */
export function decodeMessage(message: Buffer): DecodedMessage {
  const header = decodeHeader(message);
  let offset = 12;
  const questions: Question[] = [];
  for (let i = 0; i < header.counts[0]; i++) {
    const { name, end } = decodeName(message, offset);
    if (end + 4 > message.length) throw new DnsWireError('question runs past the end of the message');
    questions.push({ name, type: message.readUInt16BE(end), class: message.readUInt16BE(end + 2) });
    offset = end + 4;
  }
  const sections: DecodedRecord[][] = [[], [], []];
  for (let s = 0; s < 3; s++) {
    for (let i = 0; i < header.counts[s + 1]; i++) {
      const record = decodeRecord(message, offset);
      sections[s].push(record);
      offset = record.end;
    }
  }
  if (offset !== message.length)
    throw new DnsWireError(`${message.length - offset} trailing octets after the message`);
  return { header, questions, answers: sections[0], authorities: sections[1], additionals: sections[2] };
}

function decodeRecord(message: Buffer, offset: number): DecodedRecord {
  const { name, end } = decodeName(message, offset);
  if (end + 10 > message.length) throw new DnsWireError('record header runs past the end of the message');
  const rdlength = message.readUInt16BE(end + 8);
  const rdataOffset = end + 10;
  if (rdataOffset + rdlength > message.length)
    throw new DnsWireError('RDATA runs past the end of the message');
  return {
    name,
    type: message.readUInt16BE(end),
    class: message.readUInt16BE(end + 2),
    ttl: message.readUInt32BE(end + 4),
    rdata: message.subarray(rdataOffset, rdataOffset + rdlength),
    offset,
    rdataOffset,
    end: rdataOffset + rdlength,
  };
}

export function rdataA(address: string): Buffer {
  const octets = address.split('.').map(Number);
  if (octets.length !== 4 || octets.some((o) => !Number.isInteger(o) || o < 0 || o > 255)) {
    throw new DnsWireError(`"${address}" is not an IPv4 address`);
  }
  return Buffer.from(octets);
}

export function rdataAAAA(address: string): Buffer {
  const canonical = canonicalIpv6(address);
  const [head, tail] = canonical.includes('::') ? canonical.split('::') : [canonical, undefined];
  const headGroups = head ? head.split(':') : [];
  const tailGroups = tail ? tail.split(':') : [];
  const zeros = tail === undefined ? 0 : 8 - headGroups.length - tailGroups.length;
  const groups = [...headGroups, ...Array<string>(zeros).fill('0'), ...tailGroups];
  if (groups.length !== 8) throw new DnsWireError(`"${address}" is not an IPv6 address`);
  const out = Buffer.alloc(16);
  groups.forEach((group, i) => out.writeUInt16BE(parseInt(group, 16), 2 * i));
  return out;
}

export function rdataName(name: string): Buffer {
  return encodeName(name);
}

/** TXT RDATA: one length-prefixed character-string (at most 255 octets) per entry. */
export function rdataTxt(strings: (string | Buffer)[]): Buffer {
  return Buffer.concat(
    strings.map((s) => {
      const bytes = Buffer.isBuffer(s) ? s : Buffer.from(s, 'utf8');
      if (bytes.length > 255) throw new DnsWireError('TXT character-string longer than 255 octets');
      return Buffer.concat([Buffer.from([bytes.length]), bytes]);
    }),
  );
}

export function decodeTxt(rdata: Buffer): string[] {
  const strings: string[] = [];
  for (let i = 0; i < rdata.length;) {
    const length = rdata[i];
    if (i + 1 + length > rdata.length) throw new DnsWireError('TXT character-string runs past RDATA');
    strings.push(rdata.toString('utf8', i + 1, i + 1 + length));
    i += 1 + length;
  }
  return strings;
}
