/**
 * The embedded authoritative server over real sockets: dns2's clients and the real `dig` (UDP and
 * TCP) see the answers users would see; stale writes are refused; garbage does not take it down.
 * Ports 15301-15302 belong to this file.
 */
import { randomBytes } from 'node:crypto';
import { createSocket } from 'node:dgram';
import { connect } from 'node:net';
import DNS from 'dns2';
import { StaleEpochError } from '../../apps/orchestrator/src/common/errors';
import { DnsRecordWrite } from '../../apps/orchestrator/src/dns/dns-provider.interface';
import { EmbeddedDnsProvider } from '../../apps/orchestrator/src/dns/embedded/embedded-dns.provider';
import {
  DnsServerStartError,
  EmbeddedDnsServer,
} from '../../apps/orchestrator/src/dns/embedded/embedded-dns.server';
import { dig } from './dig.helper';

jest.setTimeout(60_000);

const { Packet } = DNS;
const HOST = '127.0.0.1';
const PORT = 15301;

const write = (overrides: Partial<DnsRecordWrite> = {}): DnsRecordWrite => ({
  zone: 'example.test',
  name: 'app.example.test',
  type: 'A',
  ttl: 42,
  value: '10.0.0.1',
  epoch: 1,
  scenarioId: 'scenario-1',
  ...overrides,
});

const udp = (port = PORT) => DNS.UDPClient({ dns: HOST, port, timeout: 2000 });
const tcp = (port = PORT) => DNS.TCPClient({ dns: HOST, port });
const ask = (client: DNS.DnsResolver, name: string, type: string) =>
  client(name, type, Packet.CLASS.IN, { recursive: false });

describe('embedded DNS server (e2e)', () => {
  const queries: string[] = [];
  let server: EmbeddedDnsServer;
  let provider: EmbeddedDnsProvider;

  beforeAll(async () => {
    server = new EmbeddedDnsServer({
      host: HOST,
      port: PORT,
      zones: ['example.test', 'other.test'],
      onQuery: (rcode, type) => queries.push(`${rcode} ${type}`),
    });
    await server.start();
    provider = new EmbeddedDnsProvider(server, { timeoutMs: 2000 });
    server.load([
      write(),
      write({ name: 'v6.example.test', type: 'AAAA', value: '2001:db8::10', ttl: 120 }),
      write({ name: 'www.example.test', type: 'CNAME', value: 'app.example.test', ttl: 15 }),
      write({ name: 'ext.example.test', type: 'CNAME', value: 'target.example.net', ttl: 15 }),
    ]);
  });

  afterAll(async () => {
    await server?.stop();
  });

  it('listens on the requested port', () => {
    expect(server.port).toBe(PORT);
    expect(server.listening).toBe(true);
  });

  it('answers A with TTL and AA over UDP and TCP (dns2 clients)', async () => {
    for (const client of [udp(), tcp()]) {
      const response = await ask(client, 'app.example.test', 'A');
      expect(response.header.rcode).toBe(Packet.RCODE.NOERROR);
      expect(response.header.aa).toBe(1);
      expect(response.header.qr).toBe(1);
      expect(response.answers).toEqual([
        expect.objectContaining({
          name: 'app.example.test',
          type: Packet.TYPE.A,
          ttl: 42,
          address: '10.0.0.1',
        }),
      ]);
    }
  });

  it.each([false, true])('answers A, AAAA and CNAME chains to dig (tcp=%p)', async (overTcp) => {
    const a = await dig(PORT, 'App.Example.Test.', 'A', { tcp: overTcp });
    expect(a.status).toBe('NOERROR');
    expect(a.flags).toEqual(expect.arrayContaining(['qr', 'aa']));
    expect(a.flags).not.toContain('ra');
    expect(a.answer).toEqual([{ name: 'App.Example.Test.', ttl: 42, type: 'A', data: '10.0.0.1' }]);

    const aaaa = await dig(PORT, 'v6.example.test', 'AAAA', { tcp: overTcp });
    expect(aaaa.answer).toEqual([{ name: 'v6.example.test.', ttl: 120, type: 'AAAA', data: '2001:db8::10' }]);

    const chain = await dig(PORT, 'www.example.test', 'A', { tcp: overTcp });
    expect(chain.status).toBe('NOERROR');
    expect(chain.answer).toEqual([
      { name: 'www.example.test.', ttl: 15, type: 'CNAME', data: 'app.example.test.' },
      { name: 'app.example.test.', ttl: 42, type: 'A', data: '10.0.0.1' },
    ]);

    const external = await dig(PORT, 'ext.example.test', 'AAAA', { tcp: overTcp });
    expect(external.answer).toEqual([
      { name: 'ext.example.test.', ttl: 15, type: 'CNAME', data: 'target.example.net.' },
    ]);
  });

  it.each([false, true])(
    'gives NXDOMAIN / NODATA with the SOA, REFUSED outside zones (dig, tcp=%p)',
    async (overTcp) => {
      const nx = await dig(PORT, 'missing.example.test', 'A', { tcp: overTcp });
      expect(nx.status).toBe('NXDOMAIN');
      expect(nx.flags).toContain('aa');
      expect(nx.answer).toEqual([]);
      expect(nx.authority).toHaveLength(1);
      expect(nx.authority[0]).toMatchObject({ name: 'example.test.', type: 'SOA', ttl: 30 });
      expect(nx.authority[0].data).toMatch(
        /^ns1\.example\.test\. hostmaster\.example\.test\. \d+ 3600 600 86400 30$/,
      );

      const nodata = await dig(PORT, 'app.example.test', 'AAAA', { tcp: overTcp });
      expect(nodata.status).toBe('NOERROR');
      expect(nodata.answer).toEqual([]);
      expect(nodata.authority[0]).toMatchObject({ type: 'SOA' });

      const refused = await dig(PORT, 'example.com', 'A', { tcp: overTcp });
      expect(refused.status).toBe('REFUSED');
      expect(refused.flags).not.toContain('aa');
    },
  );

  it('serves SOA and NS at the apex with ns1 glue', async () => {
    const soa = await dig(PORT, 'example.test', 'SOA');
    expect(soa.answer).toEqual([expect.objectContaining({ name: 'example.test.', type: 'SOA', ttl: 60 })]);
    const ns = await dig(PORT, 'example.test', 'NS', { tcp: true });
    expect(ns.answer).toEqual([{ name: 'example.test.', ttl: 60, type: 'NS', data: 'ns1.example.test.' }]);
    expect(ns.additional).toEqual([{ name: 'ns1.example.test.', ttl: 60, type: 'A', data: HOST }]);
    const response = await ask(udp(), 'other.test', 'SOA');
    expect(response.answers[0]).toMatchObject({ type: Packet.TYPE.SOA, primary: 'ns1.other.test' });
  });

  it('increases the SOA serial on a change that users see', async () => {
    const serial = async () => Number((await dig(PORT, 'example.test', 'SOA')).answer[0].data.split(' ')[2]);
    const before = await serial();
    server.upsert(write({ name: 'serial.example.test', value: '10.7.7.7' }));
    expect(await serial()).toBeGreaterThan(before);
  });

  it('applies through the provider and verifies with a real query; refuses a stale epoch', async () => {
    await provider.apply(write({ name: 'failover.example.test', value: '10.1.0.1', epoch: 5 }));
    expect(await provider.query(write({ name: 'failover.example.test' }))).toEqual(['10.1.0.1']);

    await provider.apply(write({ name: 'failover.example.test', value: '10.1.0.2', epoch: 6 }));
    expect((await dig(PORT, 'failover.example.test', 'A')).answer[0].data).toBe('10.1.0.2');

    await expect(
      provider.apply(write({ name: 'failover.example.test', value: '10.1.0.99', epoch: 5 })),
    ).rejects.toMatchObject({ constructor: StaleEpochError, current: 6, attempted: 5 });
    expect(await provider.query(write({ name: 'failover.example.test' }))).toEqual(['10.1.0.2']);
    expect((await dig(PORT, 'failover.example.test', 'A', { tcp: true })).answer[0].data).toBe('10.1.0.2');
    expect(server.snapshot().find((r) => r.name === 'failover.example.test')).toMatchObject({
      value: '10.1.0.2',
      epoch: 6,
    });

    await provider.apply(
      write({ name: 'v6-failover.example.test', type: 'AAAA', value: '2001:DB8:0::7', epoch: 1 }),
    );
    expect(await provider.query(write({ name: 'v6-failover.example.test', type: 'AAAA' }))).toEqual([
      '2001:db8::7',
    ]);
    await provider.apply(
      write({ name: 'alias.example.test', type: 'CNAME', value: 'Failover.Example.Test.' }),
    );
    expect(await provider.query(write({ name: 'alias.example.test', type: 'CNAME' }))).toEqual([
      'failover.example.test',
    ]);
    expect(await provider.query(write({ name: 'nothing.example.test' }))).toEqual([]);
    await expect(provider.query(write({ name: 'app.example.com' }))).rejects.toMatchObject({
      rcode: 'REFUSED',
    });
  });

  it('answers repeated plain queries from pre-encoded bytes: id, spelling and counts per query; a flip is seen at once', async () => {
    const rawQuery = (name: string, id: number) => {
      const q = new Packet();
      q.header.id = id;
      q.header.rd = 1;
      q.questions.push({ name, type: Packet.TYPE.A, class: Packet.CLASS.IN } as never);
      return Buffer.from(q.toBuffer());
    };
    const socket = createSocket('udp4');
    await new Promise<void>((r) => socket.bind(0, HOST, () => r()));
    const ask = (msg: Buffer) =>
      new Promise<ReturnType<typeof Packet.parse>>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error('no answer')), 2000);
        socket.once('message', (answer) => {
          clearTimeout(timer);
          resolve(Packet.parse(answer));
        });
        socket.send(msg, PORT, HOST);
      });
    try {
      const before = server.stats.queries.NOERROR ?? 0;
      const spellings = ['app.example.test', 'APP.example.TEST', 'aPp.ExAmPlE.tEsT', 'app.example.test'];
      for (const [k, name] of spellings.entries()) {
        const a = await ask(rawQuery(name, 1000 + k));
        expect(a.header.id).toBe(1000 + k);
        expect(a.questions[0].name).toBe(name);
        expect(a.answers).toEqual([expect.objectContaining({ name, address: '10.0.0.1', ttl: 42 })]);
      }
      expect((server.stats.queries.NOERROR ?? 0) - before).toBe(spellings.length);
      // A flip: the very next query sees the new address, then the cache serves it.
      server.upsert(write({ value: '10.0.0.9', epoch: 50 }));
      for (const id of [2001, 2002]) {
        const a = await ask(rawQuery('App.Example.Test', id));
        expect([a.header.id, (a.answers[0] as { address?: string }).address]).toEqual([id, '10.0.0.9']);
      }
      server.upsert(write({ value: '10.0.0.1', epoch: 51 }));
      expect((await ask(rawQuery('app.example.test', 3001))).answers[0]).toMatchObject({
        address: '10.0.0.1',
      });
      // Dependent answers go with the record they hold: a CNAME chain to it, and a negative answer
      // (it carries the zone's serial) that a new record turns positive.
      const askAny = async (name: string, id: number) => ask(rawQuery(name, id));
      for (const id of [5001, 5002]) await askAny('www.example.test', id);
      for (const id of [5003, 5004]) expect((await askAny('late.example.test', id)).header.rcode).toBe(3);
      server.upsert(write({ value: '10.0.0.7', epoch: 52 }));
      server.upsert(
        write({ name: 'late.example.test', value: '10.0.0.8', epoch: 1, scenarioId: 'scenario-late' }),
      );
      const chain = await askAny('www.example.test', 5005);
      expect(
        chain.answers.map(
          (r) => (r as { address?: string; domain?: string }).address ?? (r as { domain?: string }).domain,
        ),
      ).toEqual(['app.example.test', '10.0.0.7']);
      const late = await askAny('late.example.test', 5006);
      expect([late.header.rcode, (late.answers[0] as { address?: string }).address]).toEqual([0, '10.0.0.8']);
      // Across zones: a CNAME into other.test whose target does not exist yet (NXDOMAIN carrying
      // other.test's SOA), then the target appears.
      server.upsert(
        write({
          name: 'cross.example.test',
          type: 'CNAME',
          value: 'tgt.other.test',
          epoch: 1,
          scenarioId: 'sc-x',
        }),
      );
      for (const id of [5101, 5102]) expect((await askAny('cross.example.test', id)).header.rcode).toBe(3);
      server.upsert(
        write({
          zone: 'other.test',
          name: 'tgt.other.test',
          value: '10.0.0.5',
          epoch: 1,
          scenarioId: 'sc-t',
        }),
      );
      const cross = await askAny('cross.example.test', 5103);
      expect([cross.header.rcode, (cross.answers[1] as { address?: string } | undefined)?.address]).toEqual([
        0,
        '10.0.0.5',
      ]);
      server.remove({ name: 'cross.example.test', type: 'CNAME' });
      server.remove({ name: 'tgt.other.test', type: 'A' });
      server.remove({ name: 'late.example.test', type: 'A' });
      expect((await askAny('late.example.test', 5007)).header.rcode).toBe(3);
      server.upsert(write({ value: '10.0.0.1', epoch: 53 }));
      // A different type under the same name is a different answer (NODATA here).
      const q = new Packet();
      q.header.id = 4001;
      q.questions.push({ name: 'app.example.test', type: Packet.TYPE.AAAA, class: Packet.CLASS.IN } as never);
      const nodata = await ask(Buffer.from(q.toBuffer()));
      expect([nodata.header.id, nodata.answers.length, nodata.authorities.length]).toEqual([4001, 0, 1]);
    } finally {
      socket.close();
    }
  });

  it('copies the RD bit of the query into the answer, as BIND does (RFC 1035 4.1.1)', async () => {
    for (const [name, rd] of [
      ['app.example.test', 1],
      ['app.example.test', 0],
      ['missing.example.test', 1],
      ['outside.test', 1],
    ] as const) {
      const q = new Packet();
      q.header.id = 4242;
      q.header.rd = rd;
      q.questions.push({ name, type: Packet.TYPE.A, class: Packet.CLASS.IN } as never);
      const answer = await new Promise<Buffer>((resolve, reject) => {
        const socket = createSocket('udp4');
        const timer = setTimeout(() => {
          socket.close();
          reject(new Error('no answer'));
        }, 2000);
        socket.once('message', (msg) => {
          clearTimeout(timer);
          socket.close();
          resolve(msg);
        });
        socket.send(Buffer.from(q.toBuffer()), PORT, HOST);
      });
      const parsed = Packet.parse(answer);
      expect([name, parsed.header.id, parsed.header.qr, parsed.header.rd]).toEqual([name, 4242, 1, rd]);
    }
  });

  it('counts queries by rcode', () => {
    const stats = server.stats;
    expect(stats.queries.NOERROR).toBeGreaterThan(0);
    expect(stats.queries.NXDOMAIN).toBeGreaterThan(0);
    expect(stats.queries.REFUSED).toBeGreaterThan(0);
    expect(queries).toEqual(expect.arrayContaining(['NOERROR A', 'NXDOMAIN A', 'REFUSED A', 'NOERROR NS']));
  });

  it('answers FORMERR / NOTIMP to well-formed but unsupported requests', async () => {
    const noQuestion = Buffer.alloc(12);
    noQuestion.writeUInt16BE(0x1234, 0);
    const formerr = Packet.parse(await sendUdp(noQuestion));
    expect(formerr.header).toMatchObject({ id: 0x1234, qr: 1, rcode: Packet.RCODE.FORMERR });

    const query = new Packet();
    query.header.id = 0x4321;
    query.header.opcode = 5; // UPDATE: the embedded server takes writes only from the orchestrator
    query.questions.push({ name: 'example.test', type: Packet.TYPE.SOA, class: Packet.CLASS.IN } as never);
    const notimp = Packet.parse(await sendUdp(query.toBuffer()));
    expect(notimp.header).toMatchObject({ id: 0x4321, rcode: Packet.RCODE.NOTIMP });
  });

  it('survives a flood of malformed packets on UDP and TCP, and still answers', async () => {
    const droppedBefore = server.stats.dropped;
    const formerrBefore = server.stats.queries.FORMERR ?? 0;
    const floodStarted = Date.now();
    const socket = createSocket('udp4');
    const crafted = [
      Buffer.alloc(0),
      Buffer.from([0x01]),
      Buffer.alloc(11),
      // header claims a question, then a compression pointer to itself
      Buffer.from([0, 1, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0xc0, 12, 0, 1, 0, 1]),
      // label length running past the end
      Buffer.from([0, 2, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 63, 0x61]),
      // a response (QR=1) must not be answered
      Buffer.from([0, 3, 0x80, 0, 0, 0, 0, 0, 0, 0, 0, 0]),
      // 65535 records announced, none present
      Buffer.from([0, 4, 0, 0, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff]),
    ];
    for (let i = 0; i < 3000; i++) {
      const packet = i < crafted.length ? crafted[i] : randomBytes(1 + Math.floor(Math.random() * 600));
      await new Promise<void>((resolve) => socket.send(packet, PORT, HOST, () => resolve()));
    }
    socket.close();
    for (let i = 0; i < 20; i++) {
      await new Promise<void>((resolve) => {
        const client = connect(PORT, HOST, () => {
          const garbage = randomBytes(1 + Math.floor(Math.random() * 300));
          client.end(i % 2 ? garbage : Buffer.concat([Buffer.from([0, garbage.length]), garbage]));
        });
        client.on('error', () => resolve());
        client.on('close', () => resolve());
        client.resume();
      });
    }
    // Garbage never pins a connection until the idle timeout.
    expect(Date.now() - floodStarted).toBeLessThan(5000);
    const response = await ask(udp(), 'app.example.test', 'A');
    expect(response.answers[0]).toMatchObject({ address: '10.0.0.1' });
    expect((await dig(PORT, 'app.example.test', 'A', { tcp: true })).answer[0].data).toBe('10.0.0.1');
    expect(server.listening).toBe(true);
    expect(server.stats.dropped).toBeGreaterThan(droppedBefore);
    expect(server.stats.queries.FORMERR ?? 0).toBeGreaterThan(formerrBefore);
  });

  it('rejects a second server on the same port with EADDRINUSE', async () => {
    const clash = new EmbeddedDnsServer({ host: HOST, port: PORT, zones: ['example.test'] });
    const error = await clash.start().catch((e: unknown) => e);
    expect(error).toBeInstanceOf(DnsServerStartError);
    expect(error).toMatchObject({ code: 'EADDRINUSE', port: PORT });
    expect((error as Error).message).toMatch(/address already in use/);
    expect(clash.listening).toBe(false);
    await clash.stop();
    expect((await dig(PORT, 'app.example.test', 'A')).answer[0].data).toBe('10.0.0.1');
  });

  it('picks one free port for UDP and TCP when asked for port 0, and frees it on stop', async () => {
    const ephemeral = new EmbeddedDnsServer({ host: HOST, port: 0, zones: ['example.test'] });
    await ephemeral.start();
    try {
      expect(ephemeral.port).toBeGreaterThan(0);
      ephemeral.upsert(write({ value: '10.9.9.9' }));
      expect((await ask(udp(ephemeral.port), 'app.example.test', 'A')).answers[0].address).toBe('10.9.9.9');
      expect((await ask(tcp(ephemeral.port), 'app.example.test', 'A')).answers[0].address).toBe('10.9.9.9');
    } finally {
      await ephemeral.stop();
    }
    expect(ephemeral.listening).toBe(false);
  });

  it('stops promptly even with an idle TCP client connected, and can start again', async () => {
    const other = new EmbeddedDnsServer({ host: HOST, port: PORT + 1, zones: ['example.test'] });
    await other.start();
    const idle = connect(PORT + 1, HOST);
    idle.on('error', () => undefined);
    await new Promise((resolve) => idle.once('connect', resolve));
    const started = Date.now();
    await other.stop();
    expect(Date.now() - started).toBeLessThan(2000);
    await other.start();
    other.upsert(write());
    expect((await dig(PORT + 1, 'app.example.test', 'A')).answer[0].data).toBe('10.0.0.1');
    await other.stop();
  });
});

function sendUdp(packet: Buffer): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const socket = createSocket('udp4');
    const timer = setTimeout(() => {
      socket.close();
      reject(new Error('no answer'));
    }, 2000);
    socket.once('message', (message) => {
      clearTimeout(timer);
      socket.close();
      resolve(message);
    });
    socket.send(packet, PORT, HOST);
  });
}
