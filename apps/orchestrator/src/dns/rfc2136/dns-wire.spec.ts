import {
  decodeHeader,
  decodeMessage,
  decodeName,
  decodeTxt,
  DnsWireError,
  encodeHeader,
  encodeName,
  encodeQuestion,
  encodeRecord,
  rcodeName,
  rdataA,
  rdataAAAA,
  rdataTxt,
  tsigErrorName,
} from './dns-wire';

const hex = (b: Buffer) => b.toString('hex');

describe('names on the wire', () => {
  it('encodes labels uncompressed, tolerating a trailing dot', () => {
    expect(hex(encodeName('App.Example.test.'))).toBe(
      hex(Buffer.from('\x03App\x07Example\x04test\x00', 'latin1')),
    );
    expect(hex(encodeName(''))).toBe('00');
    expect(hex(encodeName('.'))).toBe('00');
  });

  it('lower-cases the canonical form used by TSIG', () => {
    expect(encodeName('HA-Test', true).toString('latin1')).toBe('\x07ha-test\x00');
  });

  it('refuses empty and oversized labels and names', () => {
    expect(() => encodeName('a..b')).toThrow(DnsWireError);
    expect(() => encodeName(`${'x'.repeat(64)}.test`)).toThrow(/63/);
    expect(() => encodeName(Array(130).fill('ab').join('.'))).toThrow(/255/);
  });

  it('decodes plain and compressed names', () => {
    const message = Buffer.concat([
      Buffer.alloc(12),
      encodeName('example.test'), // at offset 12
      Buffer.from([3, 0x61, 0x70, 0x70, 0xc0, 12]), // "app" + pointer to 12
    ]);
    expect(decodeName(message, 12)).toEqual({ name: 'example.test', end: 26 });
    expect(decodeName(message, 26)).toEqual({ name: 'app.example.test', end: 32 });
  });

  it('rejects pointer loops, truncation and reserved label types', () => {
    const loop = Buffer.concat([Buffer.alloc(12), Buffer.from([0xc0, 12])]);
    expect(() => decodeName(loop, 12)).toThrow(/loop/);
    expect(() => decodeName(Buffer.from([5, 0x61]), 0)).toThrow(/past the end/);
    expect(() => decodeName(Buffer.from([0x40, 0]), 0)).toThrow(/invalid label/);
    expect(() => decodeName(Buffer.from([]), 0)).toThrow(DnsWireError);
  });
});

describe('header', () => {
  it('round-trips the fields of an UPDATE response', () => {
    const encoded = encodeHeader({ id: 0xbeef, qr: true, opcode: 5, rcode: 9, counts: [1, 2, 3, 4] });
    expect(hex(encoded)).toBe('beef' + 'a809' + '0001000200030004');
    expect(decodeHeader(encoded)).toEqual({
      id: 0xbeef,
      qr: true,
      opcode: 5,
      aa: false,
      tc: false,
      rd: false,
      ra: false,
      rcode: 9,
      counts: [1, 2, 3, 4],
    });
  });

  it('names rcodes and TSIG errors', () => {
    expect(rcodeName(9)).toBe('NOTAUTH');
    expect(rcodeName(10)).toBe('NOTZONE');
    expect(rcodeName(15)).toBe('RCODE15');
    expect(tsigErrorName(16)).toBe('BADSIG');
    expect(tsigErrorName(17)).toBe('BADKEY');
    expect(tsigErrorName(18)).toBe('BADTIME');
    expect(tsigErrorName(0)).toBe('NOERROR');
  });
});

describe('RDATA', () => {
  it('encodes A and AAAA addresses', () => {
    expect(hex(rdataA('10.0.0.254'))).toBe('0a0000fe');
    expect(() => rdataA('10.0.0.256')).toThrow(DnsWireError);
    expect(hex(rdataAAAA('2001:DB8::1'))).toBe('20010db8000000000000000000000001');
    expect(hex(rdataAAAA('::'))).toBe('0'.repeat(32));
    expect(hex(rdataAAAA('::ffff:10.0.0.1'))).toBe('00000000000000000000ffff0a000001');
    expect(hex(rdataAAAA('fe80::1:2'))).toBe('fe800000000000000000000000010002');
  });

  it('round-trips TXT character-strings', () => {
    const rdata = rdataTxt(['epoch=3 scenario=s-1', '']);
    expect(rdata[0]).toBe(20);
    expect(decodeTxt(rdata)).toEqual(['epoch=3 scenario=s-1', '']);
    expect(() => rdataTxt(['x'.repeat(256)])).toThrow(/255/);
    expect(() => decodeTxt(Buffer.from([5, 0x61]))).toThrow(DnsWireError);
  });
});

describe('decodeMessage', () => {
  const message = Buffer.concat([
    encodeHeader({ id: 1, opcode: 0, counts: [1, 1, 0, 0] }),
    encodeQuestion({ name: 'a.example.test', type: 1, class: 1 }),
    encodeRecord({ name: 'a.example.test', type: 1, class: 1, ttl: 30, rdata: rdataA('10.0.0.1') }),
  ]);

  it('decodes questions and records with their offsets', () => {
    const decoded = decodeMessage(message);
    expect(decoded.questions).toEqual([{ name: 'a.example.test', type: 1, class: 1 }]);
    expect(decoded.answers).toHaveLength(1);
    expect(decoded.answers[0]).toMatchObject({
      name: 'a.example.test',
      type: 1,
      class: 1,
      ttl: 30,
      offset: 32,
    }); // 12 + 16 (name) + 4
    expect(hex(decoded.answers[0].rdata)).toBe('0a000001');
    expect(decoded.answers[0].end).toBe(message.length);
  });

  it('rejects truncated messages and trailing garbage', () => {
    expect(() => decodeMessage(message.subarray(0, message.length - 1))).toThrow(DnsWireError);
    expect(() => decodeMessage(Buffer.concat([message, Buffer.from([0])]))).toThrow(/trailing/);
    expect(() => decodeMessage(Buffer.alloc(5))).toThrow(/shorter than a header/);
  });
});
