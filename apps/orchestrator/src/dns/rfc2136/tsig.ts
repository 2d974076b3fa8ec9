/**
 * TSIG (RFC 8945) with HMAC-SHA256: sign a request, verify the server's signed response.
 * The MAC covers the message as it was before the TSIG record was appended (original ID,
 * ARCOUNT without the TSIG) followed by the "TSIG variables" with names in canonical form;
 * a response MAC is additionally prefixed by the request MAC (§4.3.1).
 */
import { createHmac, timingSafeEqual } from 'node:crypto';
import {
  decodeMessage,
  decodeName,
  DnsWireError,
  encodeName,
  encodeRecord,
  RR_CLASS,
  RR_TYPE,
} from './dns-wire';

export const TSIG_ALGORITHMS = {
  'hmac-sha256': { wireName: 'hmac-sha256', hash: 'sha256', macLength: 32 },
} as const;
export type TsigAlgorithm = keyof typeof TSIG_ALGORITHMS;

/** RFC 8945 §10 recommends 300 seconds. */
export const DEFAULT_FUDGE = 300;

export interface TsigKey {
  name: string;
  algorithm: TsigAlgorithm;
  secret: Buffer;
}

export interface TsigRdata {
  algorithm: string;
  /** Seconds since the epoch (48 bits on the wire). */
  timeSigned: number;
  fudge: number;
  mac: Buffer;
  originalId: number;
  error: number;
  otherData: Buffer;
}

export function encodeTsigRdata(rdata: TsigRdata): Buffer {
  const time = Buffer.alloc(10);
  writeUint48(time, rdata.timeSigned, 0);
  time.writeUInt16BE(rdata.fudge, 6);
  time.writeUInt16BE(rdata.mac.length, 8);
  const tail = Buffer.alloc(6);
  tail.writeUInt16BE(rdata.originalId, 0);
  tail.writeUInt16BE(rdata.error, 2);
  tail.writeUInt16BE(rdata.otherData.length, 4);
  return Buffer.concat([encodeName(rdata.algorithm, true), time, rdata.mac, tail, rdata.otherData]);
}

/** Decode TSIG RDATA found at `offset..end` of `message` (the algorithm name may be compressed). */
export function decodeTsigRdata(message: Buffer, offset: number, end: number): TsigRdata {
  const { name: algorithm, end: afterName } = decodeName(message, offset);
  let at = afterName;
  const need = (n: number) => {
    if (at + n > end) throw new DnsWireError('TSIG RDATA truncated');
  };
  need(10);
  const timeSigned = readUint48(message, at);
  const fudge = message.readUInt16BE(at + 6);
  const macSize = message.readUInt16BE(at + 8);
  at += 10;
  need(macSize);
  const mac = Buffer.from(message.subarray(at, at + macSize));
  at += macSize;
  need(6);
  const originalId = message.readUInt16BE(at);
  const error = message.readUInt16BE(at + 2);
  const otherLength = message.readUInt16BE(at + 4);
  at += 6;
  need(otherLength);
  const otherData = Buffer.from(message.subarray(at, at + otherLength));
  if (at + otherLength !== end) throw new DnsWireError('TSIG RDATA has trailing octets');
  return { algorithm: algorithm.toLowerCase(), timeSigned, fudge, mac, originalId, error, otherData };
}

/** The TSIG variables of RFC 8945 §4.3.3, in canonical form. */
export function tsigVariables(keyName: string, rdata: Omit<TsigRdata, 'mac' | 'originalId'>): Buffer {
  const fixed = Buffer.alloc(6);
  fixed.writeUInt16BE(RR_CLASS.ANY, 0);
  fixed.writeUInt32BE(0, 2); // TTL
  const times = Buffer.alloc(8);
  writeUint48(times, rdata.timeSigned, 0);
  times.writeUInt16BE(rdata.fudge, 6);
  const tail = Buffer.alloc(4);
  tail.writeUInt16BE(rdata.error, 0);
  tail.writeUInt16BE(rdata.otherData.length, 2);
  return Buffer.concat([
    encodeName(keyName, true),
    fixed,
    encodeName(rdata.algorithm, true),
    times,
    tail,
    rdata.otherData,
  ]);
}

export function computeMac(key: TsigKey, parts: Buffer[]): Buffer {
  const hmac = createHmac(TSIG_ALGORITHMS[key.algorithm].hash, key.secret);
  for (const part of parts) hmac.update(part);
  return hmac.digest();
}

/**
 * Append a TSIG record to a complete unsigned message. Returns the signed message and the MAC,
 * which the response MAC covers.
 */
export function signMessage(
  message: Buffer,
  key: TsigKey,
  options: { timeSigned: number; fudge?: number },
): { signed: Buffer; mac: Buffer } {
  const variables = {
    algorithm: TSIG_ALGORITHMS[key.algorithm].wireName,
    timeSigned: options.timeSigned,
    fudge: options.fudge ?? DEFAULT_FUDGE,
    error: 0,
    otherData: Buffer.alloc(0),
  };
  const mac = computeMac(key, [message, tsigVariables(key.name, variables)]);
  const record = encodeRecord({
    name: key.name,
    type: RR_TYPE.TSIG,
    class: RR_CLASS.ANY,
    ttl: 0,
    rdata: encodeTsigRdata({ ...variables, mac, originalId: message.readUInt16BE(0) }),
  });
  const signed = Buffer.concat([message, record]);
  signed.writeUInt16BE(message.readUInt16BE(10) + 1, 10);
  return { signed, mac };
}

export type TsigCheck =
  /** No TSIG record at all. */
  | { status: 'unsigned' }
  /** A TSIG record with an empty MAC: how servers report BADSIG/BADKEY (they cannot sign). */
  | { status: 'unsigned-error'; tsig: TsigRdata }
  /** The MAC is right and the time within the fudge; `tsig.error` may still report BADTIME. */
  | { status: 'verified'; tsig: TsigRdata }
  | { status: 'invalid'; reason: string; tsig?: TsigRdata };

/**
 * Check the TSIG of a response to a request we signed with `requestMac` (RFC 8945 §5.3).
 * `nowSeconds` is compared with the signing time.
 */
export function verifyResponse(
  response: Buffer,
  key: TsigKey,
  requestMac: Buffer,
  nowSeconds: number,
): TsigCheck {
  const decoded = decodeMessage(response);
  const additionals = decoded.additionals;
  const index = additionals.findIndex((r) => r.type === RR_TYPE.TSIG);
  if (index === -1) return { status: 'unsigned' };
  if (index !== additionals.length - 1)
    return { status: 'invalid', reason: 'TSIG record is not the last record' };
  const record = additionals[index];
  const tsig = decodeTsigRdata(response, record.rdataOffset, record.end);
  if (record.name.toLowerCase() !== normalizeKeyName(key.name)) {
    return { status: 'invalid', reason: `response signed with key "${record.name}"`, tsig };
  }
  if (tsig.algorithm !== TSIG_ALGORITHMS[key.algorithm].wireName) {
    return { status: 'invalid', reason: `response signed with algorithm "${tsig.algorithm}"`, tsig };
  }
  if (tsig.mac.length === 0) return { status: 'unsigned-error', tsig };
  if (record.class !== RR_CLASS.ANY || record.ttl !== 0) {
    return { status: 'invalid', reason: 'TSIG record class/TTL are not ANY/0', tsig };
  }
  const unsigned = Buffer.from(response.subarray(0, record.offset));
  unsigned.writeUInt16BE(tsig.originalId, 0);
  unsigned.writeUInt16BE(decoded.header.counts[3] - 1, 10);
  const requestMacLength = Buffer.alloc(2);
  requestMacLength.writeUInt16BE(requestMac.length, 0);
  const expected = computeMac(key, [requestMacLength, requestMac, unsigned, tsigVariables(key.name, tsig)]);
  if (tsig.mac.length !== expected.length || !timingSafeEqual(tsig.mac, expected)) {
    return { status: 'invalid', reason: 'response MAC does not verify', tsig };
  }
  // A signed error (BADTIME) is the answer itself; its time fields describe the disagreement.
  if (tsig.error === 0 && Math.abs(nowSeconds - tsig.timeSigned) > tsig.fudge) {
    return { status: 'invalid', reason: `response signed at ${tsig.timeSigned}, outside the fudge`, tsig };
  }
  return { status: 'verified', tsig };
}

export function normalizeKeyName(name: string): string {
  const lower = name.toLowerCase();
  return lower.endsWith('.') ? lower.slice(0, -1) : lower;
}

function writeUint48(buffer: Buffer, value: number, offset: number): void {
  buffer.writeUInt16BE(Math.floor(value / 2 ** 32) & 0xffff, offset);
  buffer.writeUInt32BE(value % 2 ** 32, offset + 2);
}

function readUint48(buffer: Buffer, offset: number): number {
  return buffer.readUInt16BE(offset) * 2 ** 32 + buffer.readUInt32BE(offset + 2);
}
