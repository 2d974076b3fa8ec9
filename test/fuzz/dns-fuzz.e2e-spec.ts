/**
 * Fuzzing the embedded DNS server with seeded random and mutated packets over UDP (and some over
 * TCP): valid queries for our records with bytes flipped, replaced, cut off or appended, header
 * counts and flags changed, and plain random bytes. Checked: the server never crashes and keeps
 * answering correctly between batches, every answer it sends parses, and no answer ever carries a
 * wrong address for a name we serve. Seed and count: FUZZ_SEED, FUZZ_RUNS (as the API fuzz).
 * Port 15305 belongs to this file.
 */
import { createSocket } from 'node:dgram';
import { connect } from 'node:net';
import DNS from 'dns2';
import fc from 'fast-check';
import { EmbeddedDnsServer } from '../../apps/orchestrator/src/dns/embedded/embedded-dns.server';

const SEED = process.env.FUZZ_SEED ? Number(process.env.FUZZ_SEED) : 20261203;
const PACKETS = (process.env.FUZZ_RUNS ? Number(process.env.FUZZ_RUNS) : 2500) * 2;
const HOST = '127.0.0.1';
const PORT = 15305;
const { Packet } = DNS;

jest.setTimeout(Math.max(120_000, PACKETS * 20));

const RECORDS: Record<string, { type: string; value: string }> = {
  'app.fuzz.test': { type: 'A', value: '10.9.8.7' },
  'v6.fuzz.test': { type: 'AAAA', value: '2001:db8::77' },
  'alias.fuzz.test': { type: 'CNAME', value: 'app.fuzz.test' },
};

function query(name: string, type: number, id: number): Buffer {
  const p = new Packet();
  p.header.id = id;
  p.header.rd = 0;
  p.questions.push({ name, type, class: Packet.CLASS.IN } as never);
  return Buffer.from(p.toBuffer());
}

type Mutation =
  | { kind: 'flip'; at: number; bit: number }
  | { kind: 'set'; at: number; byte: number }
  | { kind: 'cut'; at: number }
  | { kind: 'append'; bytes: number[] }
  | { kind: 'counts'; qd: number; an: number; ns: number; ar: number }
  | { kind: 'flags'; hi: number; lo: number }
  | { kind: 'random'; bytes: number[] };

function mutate(base: Buffer, ms: Mutation[]): Buffer {
  let b = Buffer.from(base);
  for (const m of ms) {
    switch (m.kind) {
      case 'flip':
        if (b.length) b[m.at % b.length] ^= 1 << m.bit;
        break;
      case 'set':
        if (b.length) b[m.at % b.length] = m.byte;
        break;
      case 'cut':
        b = b.subarray(0, b.length ? m.at % b.length : 0);
        break;
      case 'append':
        b = Buffer.concat([b, Buffer.from(m.bytes)]);
        break;
      case 'counts':
        if (b.length >= 12) {
          b.writeUInt16BE(m.qd, 4);
          b.writeUInt16BE(m.an, 6);
          b.writeUInt16BE(m.ns, 8);
          b.writeUInt16BE(m.ar, 10);
        }
        break;
      case 'flags':
        if (b.length >= 4) {
          b[2] = m.hi;
          b[3] = m.lo;
        }
        break;
      case 'random':
        b = Buffer.from(m.bytes);
        break;
    }
  }
  return b;
}

const mutationArb: fc.Arbitrary<Mutation> = fc.oneof(
  fc.record({ kind: fc.constant('flip' as const), at: fc.nat(), bit: fc.integer({ min: 0, max: 7 }) }),
  fc.record({ kind: fc.constant('set' as const), at: fc.nat(), byte: fc.integer({ min: 0, max: 255 }) }),
  fc.record({ kind: fc.constant('cut' as const), at: fc.nat() }),
  fc.record({
    kind: fc.constant('append' as const),
    bytes: fc.array(fc.integer({ min: 0, max: 255 }), { maxLength: 64 }),
  }),
  fc.record({
    kind: fc.constant('counts' as const),
    qd: fc.integer({ min: 0, max: 65535 }),
    an: fc.integer({ min: 0, max: 65535 }),
    ns: fc.integer({ min: 0, max: 3 }),
    ar: fc.integer({ min: 0, max: 65535 }),
  }),
  fc.record({
    kind: fc.constant('flags' as const),
    hi: fc.integer({ min: 0, max: 255 }),
    lo: fc.integer({ min: 0, max: 255 }),
  }),
  fc.record({
    kind: fc.constant('random' as const),
    bytes: fc.array(fc.integer({ min: 0, max: 255 }), { maxLength: 700 }),
  }),
);

describe(`embedded DNS fuzz (seed ${SEED}, ${PACKETS} packets)`, () => {
  let server: EmbeddedDnsServer;

  beforeAll(async () => {
    server = new EmbeddedDnsServer({ host: HOST, port: PORT, zones: ['fuzz.test'] });
    await server.start();
    server.load(
      Object.entries(RECORDS).map(([name, r]) => ({
        zone: 'fuzz.test',
        name,
        type: r.type as 'A',
        ttl: 30,
        value: r.value,
        epoch: 1,
        scenarioId: 'fuzz',
      })),
    );
  });
  afterAll(async () => {
    await server?.stop();
  });

  it('never crashes, keeps answering right, and never answers wrong', async () => {
    const names = [...Object.keys(RECORDS), 'missing.fuzz.test', 'other.test', 'APP.FUZZ.TEST'];
    const arb = fc.record({
      name: fc.constantFrom(...names),
      type: fc.constantFrom(
        Packet.TYPE.A,
        Packet.TYPE.AAAA,
        Packet.TYPE.CNAME,
        Packet.TYPE.SOA,
        Packet.TYPE.NS,
        Packet.TYPE.ANY,
        99,
      ),
      id: fc.integer({ min: 0, max: 65535 }),
      mutations: fc.array(mutationArb, { minLength: 1, maxLength: 3 }),
      tcp: fc.integer({ min: 0, max: 49 }).map((n) => n === 0),
    });
    const samples = fc.sample(arb, { seed: SEED, numRuns: PACKETS });
    const findings: string[] = [];
    const answered: Buffer[] = [];
    const socket = createSocket('udp4');
    socket.on('message', (msg) => answered.push(msg));
    await new Promise<void>((r) => socket.bind(0, HOST, () => r()));

    const checkAnswer = (msg: Buffer, origin: string): void => {
      let parsed: InstanceType<typeof Packet>;
      try {
        parsed = Packet.parse(msg);
      } catch (err) {
        findings.push(`unparseable answer to ${origin}: ${(err as Error).message}`);
        return;
      }
      for (const a of parsed.answers as Array<{
        name: string;
        type: number;
        address?: string;
        domain?: string;
      }>) {
        const r = RECORDS[a.name.toLowerCase()];
        if (!r) {
          findings.push(`answer for a name we do not serve (${a.name}) to ${origin}`);
          continue;
        }
        const value = a.address ?? a.domain;
        if (value !== undefined && value.toLowerCase() !== r.value) {
          findings.push(`wrong answer ${a.name} → ${value} (expected ${r.value}) to ${origin}`);
        }
      }
    };
    const stillRight = async (): Promise<boolean> => {
      const client = DNS.UDPClient({ dns: HOST, port: PORT, timeout: 2000 });
      const res = await client('app.fuzz.test', 'A', Packet.CLASS.IN, { recursive: false }).catch(() => null);
      return (res?.answers?.[0] as { address?: string } | undefined)?.address === '10.9.8.7';
    };

    let sent = 0;
    let tcpSent = 0;
    for (let i = 0; i < samples.length; i++) {
      const s = samples[i];
      const packet = mutate(query(s.name, s.type, s.id), s.mutations);
      const origin = `${s.tcp ? 'tcp' : 'udp'} ${s.name}/${s.type} ${JSON.stringify(s.mutations).slice(0, 160)}`;
      if (s.tcp) {
        const reply = await new Promise<Buffer | null>((resolve) => {
          const chunks: Buffer[] = [];
          const c = connect(PORT, HOST, () => {
            const len = Buffer.alloc(2);
            len.writeUInt16BE(Math.min(packet.length, 65535));
            c.end(Buffer.concat([len, packet]));
          });
          c.setTimeout(2000, () => c.destroy());
          c.on('data', (d) => chunks.push(d));
          c.on('error', () => undefined);
          c.on('close', () => resolve(chunks.length ? Buffer.concat(chunks) : null));
        });
        tcpSent++;
        if (reply && reply.length > 2) checkAnswer(reply.subarray(2, 2 + reply.readUInt16BE(0)), origin);
      } else {
        await new Promise<void>((r) => socket.send(packet, PORT, HOST, () => r()));
      }
      sent++;
      if (i % 500 === 499) {
        await new Promise((r) => setTimeout(r, 50));
        for (const msg of answered.splice(0)) checkAnswer(msg, 'a mutated udp packet');
        if (!(await stillRight())) findings.push(`no right answer after ${sent} packets`);
      }
    }
    await new Promise((r) => setTimeout(r, 200));
    for (const msg of answered.splice(0)) checkAnswer(msg, 'a mutated udp packet');
    socket.close();
    const ok = await stillRight();
    console.log(
      `DNS fuzz: seed ${SEED}, ${sent} packets (${tcpSent} over TCP), stats ${JSON.stringify(server.stats)}, findings ${findings.length}\n${findings.slice(0, 10).join('\n')}`,
    );
    expect(ok).toBe(true);
    expect(findings).toEqual([]);
  });
});
