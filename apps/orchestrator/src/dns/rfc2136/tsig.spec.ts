import { createHmac } from 'node:crypto';
import { decodeMessage, encodeHeader, encodeQuestion, encodeRecord, RR_CLASS, RR_TYPE } from './dns-wire';
import { buildRecordUpdate, normalizeWrite } from './record-update';
import { decodeTsigRdata, encodeTsigRdata, signMessage, TsigKey, TsigRdata, verifyResponse } from './tsig';
import { encodeUpdate } from './update-message';

const secret = Buffer.from('c2VjcmV0LWtleS1mb3ItdGVzdHMtb25seS0zMi1ieXRlcyE=', 'base64');
const key: TsigKey = { name: 'HA-Test.', algorithm: 'hmac-sha256', secret };
const TIME = 1_767_225_600; // 2026-01-01T00:00:00Z
const ID = 0x1234;

const unsignedUpdate = () =>
  encodeUpdate(
    ID,
    buildRecordUpdate(
      normalizeWrite({
        zone: 'example.test',
        name: 'App.Example.Test',
        type: 'A',
        ttl: 30,
        value: '10.0.0.1',
        epoch: 7,
        scenarioId: 'scenario-1',
      }),
      [],
    ),
  );

/** TSIG variables written out by hand from RFC 8945 §4.3.3 (not with the code under test). */
function handmadeVariables(timeSigned: number, error = 0, other = Buffer.alloc(0)): Buffer {
  const time = Buffer.alloc(6);
  time.writeUIntBE(timeSigned, 0, 6);
  const tail = Buffer.alloc(6);
  tail.writeUInt16BE(300, 0);
  tail.writeUInt16BE(error, 2);
  tail.writeUInt16BE(other.length, 4);
  return Buffer.concat([
    Buffer.from('\x07ha-test\x00', 'latin1'), // key name, canonical (lower case)
    Buffer.from('00ff00000000', 'hex'), // class ANY, TTL 0
    Buffer.from('\x0bhmac-sha256\x00', 'latin1'),
    time,
    tail,
    other,
  ]);
}

describe('signing an UPDATE', () => {
  const unsigned = unsignedUpdate();
  const { signed, mac } = signMessage(unsigned, key, { timeSigned: TIME });
  const decoded = decodeMessage(signed);

  it('keeps the sections of RFC 2136 in order: zone, prerequisite, updates, then TSIG', () => {
    expect(decoded.header).toMatchObject({ id: ID, qr: false, opcode: 5, rcode: 0, counts: [1, 1, 5, 1] });
    expect(decoded.questions).toEqual([{ name: 'example.test', type: RR_TYPE.SOA, class: RR_CLASS.IN }]);
    expect(decoded.answers.map((r) => [r.name, r.type, r.class, r.ttl, r.rdata.length])).toEqual([
      ['_ha-epoch.app.example.test', RR_TYPE.TXT, RR_CLASS.NONE, 0, 0], // "RRset does not exist"
    ]);
    expect(decoded.authorities.map((r) => [r.name, r.type, r.class, r.ttl, r.rdata.toString('hex')])).toEqual(
      [
        ['app.example.test', RR_TYPE.CNAME, RR_CLASS.ANY, 0, ''],
        ['app.example.test', RR_TYPE.A, RR_CLASS.ANY, 0, ''],
        ['app.example.test', RR_TYPE.A, RR_CLASS.IN, 30, '0a000001'],
        ['_ha-epoch.app.example.test', RR_TYPE.TXT, RR_CLASS.ANY, 0, ''],
        [
          '_ha-epoch.app.example.test',
          RR_TYPE.TXT,
          RR_CLASS.IN,
          30,
          Buffer.from('\x1bepoch=7 scenario=scenario-1', 'latin1').toString('hex'),
        ],
      ],
    );
  });

  it('appends a TSIG record with the RFC 8945 fields', () => {
    const [tsigRecord] = decoded.additionals;
    expect(tsigRecord).toMatchObject({ name: 'HA-Test', type: RR_TYPE.TSIG, class: RR_CLASS.ANY, ttl: 0 });
    expect(decodeTsigRdata(signed, tsigRecord.rdataOffset, tsigRecord.end)).toEqual({
      algorithm: 'hmac-sha256',
      timeSigned: TIME,
      fudge: 300,
      mac,
      originalId: ID,
      error: 0,
      otherData: Buffer.alloc(0),
    });
    expect(mac).toHaveLength(32);
    // Everything before the TSIG record is the unsigned message, ARCOUNT aside.
    const prefix = Buffer.from(signed.subarray(0, unsigned.length));
    expect(prefix.readUInt16BE(10)).toBe(1);
    prefix.writeUInt16BE(0, 10);
    expect(prefix.equals(unsigned)).toBe(true);
  });

  it('computes the MAC as HMAC-SHA256 over the unsigned message and the TSIG variables', () => {
    const expected = createHmac('sha256', secret)
      .update(Buffer.concat([unsigned, handmadeVariables(TIME)]))
      .digest();
    expect(mac.toString('hex')).toBe(expected.toString('hex'));
  });

  it('writes times beyond 32 bits into the 48-bit field', () => {
    const late = 2 ** 33 + 5;
    const { signed: lateSigned } = signMessage(unsigned, key, { timeSigned: late });
    const record = decodeMessage(lateSigned).additionals[0];
    expect(decodeTsigRdata(lateSigned, record.rdataOffset, record.end).timeSigned).toBe(late);
  });
});

describe('verifying a response', () => {
  const { mac: requestMac } = signMessage(unsignedUpdate(), key, { timeSigned: TIME });

  /** What a server sends back, signed by hand the way RFC 8945 §4.3.1 describes. */
  function serverResponse(
    options: {
      rcode?: number;
      time?: number;
      error?: number;
      macKey?: Buffer;
      mac?: Buffer;
      keyName?: string;
    } = {},
  ) {
    const time = options.time ?? TIME;
    const body = Buffer.concat([
      encodeHeader({ id: ID, qr: true, opcode: 5, rcode: options.rcode ?? 0, counts: [1, 0, 0, 0] }),
      encodeQuestion({ name: 'example.test', type: RR_TYPE.SOA, class: RR_CLASS.IN }),
    ]);
    const length = Buffer.alloc(2);
    length.writeUInt16BE(requestMac.length, 0);
    const mac =
      options.mac ??
      createHmac('sha256', options.macKey ?? secret)
        .update(Buffer.concat([length, requestMac, body, handmadeVariables(time, options.error ?? 0)]))
        .digest();
    const rdata: TsigRdata = {
      algorithm: 'hmac-sha256',
      timeSigned: time,
      fudge: 300,
      mac,
      originalId: ID,
      error: options.error ?? 0,
      otherData: Buffer.alloc(0),
    };
    const record = encodeRecord({
      name: options.keyName ?? 'ha-test',
      type: RR_TYPE.TSIG,
      class: RR_CLASS.ANY,
      ttl: 0,
      rdata: encodeTsigRdata(rdata),
    });
    const signed = Buffer.concat([body, record]);
    signed.writeUInt16BE(1, 10);
    return { body, signed };
  }

  it('accepts a correctly signed response', () => {
    expect(verifyResponse(serverResponse().signed, key, requestMac, TIME + 2)).toMatchObject({
      status: 'verified',
      tsig: { error: 0, originalId: ID },
    });
  });

  it('uses the original ID, so a rewritten message ID still verifies', () => {
    const { signed } = serverResponse();
    signed.writeUInt16BE(0x9999, 0);
    expect(verifyResponse(signed, key, requestMac, TIME).status).toBe('verified');
  });

  it('rejects a tampered response, a MAC bound to another request, and another key', () => {
    const tampered = serverResponse().signed;
    tampered[3] |= 0x05; // rcode NOERROR -> REFUSED
    expect(verifyResponse(tampered, key, requestMac, TIME)).toMatchObject({
      status: 'invalid',
      reason: 'response MAC does not verify',
    });
    expect(verifyResponse(serverResponse().signed, key, Buffer.alloc(32, 1), TIME).status).toBe('invalid');
    const otherKey = serverResponse({ macKey: Buffer.alloc(32, 7) }).signed;
    expect(verifyResponse(otherKey, key, requestMac, TIME).status).toBe('invalid');
    const otherName = serverResponse({ keyName: 'someone-else' }).signed;
    expect(verifyResponse(otherName, key, requestMac, TIME)).toMatchObject({ status: 'invalid' });
  });

  it('checks the signing time against the fudge', () => {
    const { signed } = serverResponse();
    expect(verifyResponse(signed, key, requestMac, TIME + 300).status).toBe('verified');
    expect(verifyResponse(signed, key, requestMac, TIME + 301).status).toBe('invalid');
    expect(verifyResponse(signed, key, requestMac, TIME - 301).status).toBe('invalid');
  });

  it('reports unsigned responses and unsigned TSIG errors (BADSIG/BADKEY carry no MAC)', () => {
    expect(verifyResponse(serverResponse().body, key, requestMac, TIME)).toEqual({ status: 'unsigned' });
    const badsig = serverResponse({ rcode: 9, error: 16, mac: Buffer.alloc(0) }).signed;
    expect(verifyResponse(badsig, key, requestMac, TIME)).toMatchObject({
      status: 'unsigned-error',
      tsig: { error: 16 },
    });
  });

  it('verifies a signed BADTIME even though the times disagree', () => {
    const badtime = serverResponse({ rcode: 9, error: 18 }).signed;
    expect(verifyResponse(badtime, key, requestMac, TIME + 3600)).toMatchObject({
      status: 'verified',
      tsig: { error: 18 },
    });
  });
});
