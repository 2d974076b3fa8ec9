/**
 * The embedded authoritative DNS server: dns2 sockets (UDP and TCP on the same port) in front of
 * a RecordStore. No NestJS and no database here; the lead's DnsService feeds it (setZones, load,
 * upsert) and wires its counters to prom-client.
 */
import { createServer as createNetServer, isIPv6, Server as NetServer, Socket } from 'node:net';
import DNS from 'dns2';
import pino, { Logger } from 'pino';
import { DnsRecordSpec } from '../dns-provider.interface';
import { normalizeName } from './dns-name.util';
import { LoadResult, SoaSettings, StoredRecord, ZoneRecord } from './embedded-dns.types';
import { RecordStore } from './record.store';

const { Packet } = DNS;
type Packet = DNS.Packet;
type Resource = DNS.Packet.Resource;

/** Largest UDP payload we advertise in EDNS answers (the DNS flag day 2020 figure). */
const EDNS_UDP_PAYLOAD = 1232;
/** At most one warning per this period about dropped malformed packets (a flood must not flood logs). */
const DROP_WARN_INTERVAL_MS = 10_000;
const MAX_TCP_CONNECTIONS = 1024;
const FREE_PORT_ATTEMPTS = 5;
const STOP_TIMEOUT_MS = 5_000;
/** Answers kept pre-encoded (per name, type and RD bit); cleared on every record change. */
const MAX_CACHED_ANSWERS = 10_000;
/** Without EDNS an answer must fit 512 bytes (dns2 truncates larger ones: the slow path does that). */
const PLAIN_UDP_LIMIT = 512;

/** The response codes a plain query can get (an extended one needs EDNS: never cached). */
const PLAIN_RCODES: Partial<Record<number, DnsRcodeName>> = {
  0: 'NOERROR',
  1: 'FORMERR',
  2: 'SERVFAIL',
  3: 'NXDOMAIN',
  4: 'NOTIMP',
  5: 'REFUSED',
};

/** A pre-encoded UDP answer: copied, its id and the question's spelling patched, then sent. */
interface CachedAnswer {
  bytes: Buffer;
  /** Where the query name sits in `bytes` (the question, and owner names equal to it). */
  nameOffsets: number[];
  rcode: DnsRcodeName;
  type: string;
  /** Owner names of every record in it (and the query name): a change to one of them drops it. */
  names: string[];
  /** Zone whose SOA serial it carries (negative answers, SOA answers): any change there drops it. */
  serialZone: string | null;
}

export type DnsRcodeName = 'NOERROR' | 'FORMERR' | 'SERVFAIL' | 'NXDOMAIN' | 'NOTIMP' | 'REFUSED' | 'BADVERS';

export interface EmbeddedDnsServerOptions {
  /** Address to listen on (UDP and TCP); also the glue address of ns1.<zone> unless `nsAddress` is set. */
  host: string;
  /** 0 picks a free port (the same for UDP and TCP); read it back from `port` after start(). */
  port: number;
  logger?: Logger;
  soa?: Partial<SoaSettings>;
  nsAddress?: string;
  zones?: string[];
  /** Called once per answered query, e.g. to feed a prom-client counter. Must not throw (errors are logged). */
  onQuery?: (rcode: DnsRcodeName, type: string) => void;
  /** Milliseconds clock for SOA serials. */
  now?: () => number;
}

export interface DnsQueryStats {
  /** Answered queries by response code. */
  queries: Record<string, number>;
  /** Packets that got no answer: undecodable, or responses sent to us. */
  dropped: number;
}

export class DnsServerStartError extends Error {
  constructor(
    readonly host: string,
    readonly port: number,
    readonly transport: string,
    readonly code: string | undefined,
    cause: Error,
  ) {
    super(
      code === 'EADDRINUSE'
        ? `embedded DNS server cannot listen on ${host}:${port}/${transport}: address already in use (EADDRINUSE)`
        : `embedded DNS server cannot listen on ${host}:${port}/${transport}: ${cause.message}`,
      { cause },
    );
    this.name = 'DnsServerStartError';
  }
}

export class EmbeddedDnsServer {
  private readonly logger: Logger;
  private readonly store: RecordStore;
  private server?: DNS.DnsServer;
  private boundPort?: number;
  private readonly connections = new Set<Socket>();
  private readonly answers = new Map<string, CachedAnswer>();
  /** name → cache keys whose answer holds a record of that name. */
  private readonly answersByName = new Map<string, Set<string>>();
  /** zone → cache keys whose answer holds the zone's SOA (its serial moves on every change). */
  private readonly answersBySerial = new Map<string, Set<string>>();
  private readonly counters: DnsQueryStats = { queries: {}, dropped: 0 };
  private droppedSinceWarn = 0;
  private lastDropWarn = 0;

  constructor(private readonly options: EmbeddedDnsServerOptions) {
    this.logger = (options.logger ?? pino({ level: 'silent' })).child({ context: EmbeddedDnsServer.name });
    this.store = new RecordStore({
      soa: options.soa,
      nsAddress: options.nsAddress ?? options.host,
      now: options.now,
    });
    if (options.zones) this.store.setZones(options.zones);
  }

  /** The port actually listened on (the requested one before start()). */
  get port(): number {
    return this.boundPort ?? this.options.port;
  }

  get host(): string {
    return this.options.host;
  }

  /** Where a client on this machine reaches the server (a wildcard listen address becomes loopback). */
  get queryAddress(): string {
    if (this.options.host === '0.0.0.0') return '127.0.0.1';
    if (this.options.host === '::') return '::1';
    return this.options.host;
  }

  get listening(): boolean {
    return this.server !== undefined;
  }

  get zones(): string[] {
    return this.store.zones;
  }

  get stats(): DnsQueryStats {
    return { queries: { ...this.counters.queries }, dropped: this.counters.dropped };
  }

  serialOf(zone: string): number | undefined {
    return this.store.serialOf(zone);
  }

  setZones(zones: string[]): void {
    this.store.setZones(zones);
    this.clearAnswers();
    this.logger.info({ zones: this.store.zones }, 'serving zones');
  }

  /** Replace all records (start-up or reload from PostgreSQL); invalid ones are skipped and logged. */
  load(records: StoredRecord[]): LoadResult {
    const result = this.store.load(records);
    this.clearAnswers();
    for (const { record, reason } of result.skipped) {
      this.logger.warn(
        { name: record?.name, type: record?.type, scenarioId: record?.scenarioId, reason },
        'record skipped',
      );
    }
    this.logger.info({ loaded: result.loaded, skipped: result.skipped.length }, 'records loaded');
    return result;
  }

  /** Throws StaleEpochError on a lower epoch, InvalidInputError / ConflictError on bad input. */
  upsert(write: StoredRecord): 'applied' | 'unchanged' {
    const result = this.store.upsert(write);
    // Synchronously with the change: no query is answered from the old record after this line.
    if (result === 'applied') this.dropAnswers(write.name, write.zone);
    this.logger.info(
      {
        name: write.name,
        type: write.type,
        value: write.value,
        epoch: write.epoch,
        scenarioId: write.scenarioId,
        result,
      },
      'record written',
    );
    return result;
  }

  remove(spec: Pick<DnsRecordSpec, 'name' | 'type'>, epoch?: number): boolean {
    const removed = this.store.remove(spec, epoch);
    if (removed) this.dropAnswers(spec.name, null);
    if (removed) this.logger.info({ name: spec.name, type: spec.type, epoch }, 'record removed');
    return removed;
  }

  snapshot(): StoredRecord[] {
    return this.store.snapshot();
  }

  /** Listen on UDP and TCP. Rejects with DnsServerStartError (code EADDRINUSE, ...) when it cannot. */
  async start(): Promise<void> {
    if (this.server) throw new Error('embedded DNS server already started');
    if (this.options.port !== 0) {
      this.server = await this.listenOn(this.options.port);
    } else {
      // dns2 cannot bind both transports to one ephemeral port, so probe a free TCP port and take
      // it for both; if UDP (or a racing process) has it, try another.
      for (let attempt = 1; !this.server; attempt++) {
        const port = await freeTcpPort(this.options.host);
        try {
          this.server = await this.listenOn(port);
        } catch (error) {
          if ((error as DnsServerStartError).code !== 'EADDRINUSE' || attempt >= FREE_PORT_ATTEMPTS)
            throw error;
        }
      }
    }
    this.boundPort = this.server.addresses().udp?.port ?? this.options.port;
    this.logger.info(
      { host: this.options.host, port: this.boundPort },
      'embedded DNS server listening (udp+tcp)',
    );
  }

  async stop(): Promise<void> {
    const server = this.server;
    if (!server) return;
    this.server = undefined;
    for (const socket of this.connections) socket.destroy();
    this.connections.clear();
    await closeWithin(server, STOP_TIMEOUT_MS);
    this.logger.info({ port: this.boundPort }, 'embedded DNS server stopped');
    this.boundPort = undefined;
  }

  private async listenOn(port: number): Promise<DNS.DnsServer> {
    const { host } = this.options;
    const server = DNS.createServer({
      udp: { type: isIPv6(host) ? 'udp6' : 'udp4' },
      tcp: true,
      handle: (request, send, client) => this.handle(request, send, client),
    });
    server.on('requestError', (error: Error) => this.dropped(error.message));
    this.trackTcpConnections(server);
    this.answerUdpFromCache(server);
    let onError: (error: NodeJS.ErrnoException, transport: string) => void = () => undefined;
    const failed = new Promise<never>((_, reject) => {
      onError = (error, transport) =>
        reject(new DnsServerStartError(host, port, transport, error.code, error));
    });
    server.on('error', onError);
    try {
      await Promise.race([
        server.listen({ udp: { port, address: host }, tcp: { port, address: host } }),
        failed,
      ]);
    } catch (error) {
      server.off('error', onError);
      server.on('error', () => undefined); // the other transport may still fail: nothing left to report
      await closeWithin(server, STOP_TIMEOUT_MS);
      throw error;
    }
    server.off('error', onError);
    server.on('error', (error: Error, transport: string) =>
      this.logger.error({ err: error, transport }, 'DNS socket error'),
    );
    return server;
  }

  /**
   * The UDP hot path: a plain query (one question, class IN, no EDNS, nothing else) is answered
   * from a pre-encoded answer with its id and the question's bytes patched in, without parsing it
   * into a Packet or encoding a reply. Anything else, and the first query of each name, type and
   * RD bit, goes through dns2 and the full resolver below, whose bytes are what gets cached.
   */
  private answerUdpFromCache(server: DNS.DnsServer): void {
    const udp = (server as unknown as { servers?: { udp?: import('node:dgram').Socket } }).servers?.udp;
    if (!udp) return;
    const slow = udp.listeners('message') as ((
      msg: Buffer,
      rinfo: import('node:dgram').RemoteInfo,
    ) => void)[];
    udp.removeAllListeners('message');
    udp.on('message', (msg: Buffer, rinfo: import('node:dgram').RemoteInfo) => {
      let fast: Buffer | null = null;
      try {
        fast = this.cachedReply(msg);
      } catch (error) {
        // Never let the fast path take the process down: the full path answers (or SERVFAILs).
        this.logger.error({ err: error }, 'DNS answer cache failed; answering the slow way');
      }
      if (fast) {
        // No callback per answer: a send error surfaces as the socket's 'error' event (logged).
        udp.send(fast, rinfo.port, rinfo.address);
        return;
      }
      for (const listener of slow) listener.call(udp, msg, rinfo);
    });
  }

  private clearAnswers(): void {
    this.answers.clear();
    this.answersByName.clear();
    this.answersBySerial.clear();
  }

  /** Drops every cached answer a change of `name` can alter: those holding it, and the zone's serial users. */
  private dropAnswers(name: string, zone: string | null): void {
    const n = normalizeName(name);
    const z = zone !== null ? normalizeName(zone) : this.zoneOf(n);
    const keys = [
      ...(this.answersByName.get(n) ?? []),
      ...(z !== null ? (this.answersBySerial.get(z) ?? []) : []),
    ];
    for (const key of keys) this.forget(key);
    // A name can also turn an NXDOMAIN of a name below it into NODATA (empty non-terminals): those
    // are negative answers, so they carry the serial and went with it above.
    if (z === null) this.clearAnswers();
  }

  private forget(key: string): void {
    const entry = this.answers.get(key);
    if (!entry) return;
    this.answers.delete(key);
    for (const name of entry.names) this.answersByName.get(name)?.delete(key);
    if (entry.serialZone !== null) this.answersBySerial.get(entry.serialZone)?.delete(key);
  }

  private remember(key: string, entry: CachedAnswer): void {
    if (this.answers.size >= MAX_CACHED_ANSWERS) this.clearAnswers();
    this.answers.set(key, entry);
    for (const name of entry.names) {
      let set = this.answersByName.get(name);
      if (!set) this.answersByName.set(name, (set = new Set()));
      set.add(key);
    }
    if (entry.serialZone !== null) {
      let set = this.answersBySerial.get(entry.serialZone);
      if (!set) this.answersBySerial.set(entry.serialZone, (set = new Set()));
      set.add(key);
    }
  }

  /** The longest served zone that `name` is in, or null. */
  private zoneOf(name: string): string | null {
    let best: string | null = null;
    for (const zone of this.store.zones) {
      const z = normalizeName(zone);
      if ((name === z || name.endsWith(`.${z}`)) && (best === null || z.length > best.length)) best = z;
    }
    return best;
  }

  /** The answer to a plain query from the cache (building the entry on a miss), or null for the slow path. */
  private cachedReply(msg: Buffer): Buffer | null {
    if (msg.length < 17 || msg.length > PLAIN_UDP_LIMIT) return null;
    // QR and opcode 0 only; one question; no answer, authority or additional records (no EDNS).
    if ((msg[2] & 0xf8) !== 0) return null;
    if (msg.readUInt16BE(4) !== 1 || msg.readUInt32BE(6) !== 0 || msg.readUInt16BE(10) !== 0) return null;
    let i = 12;
    for (;;) {
      const len = msg[i];
      if (len === 0) break;
      if (len > 63) return null; // a pointer or a reserved label type: not in a plain question
      i += len + 1;
      if (i >= msg.length) return null;
    }
    const nameEnd = i + 1;
    if (nameEnd - 12 > 255 || nameEnd + 4 !== msg.length) return null;
    if (msg.readUInt16BE(nameEnd + 2) !== Packet.CLASS.IN) return null;
    const key = `${msg.toString('latin1', 12, nameEnd).toLowerCase()}/${msg.readUInt16BE(nameEnd)}/${msg[2] & 0x01}`;
    const entry = this.answers.get(key);
    if (!entry) {
      const built = this.buildCachedAnswer(msg, nameEnd);
      if (!built) return null;
      this.remember(key, built);
      return built.bytes; // this first answer was counted by the resolver that built it
    }
    const out = Buffer.allocUnsafe(entry.bytes.length);
    entry.bytes.copy(out);
    out[0] = msg[0];
    out[1] = msg[1];
    for (const offset of entry.nameOffsets) msg.copy(out, offset, 12, nameEnd);
    this.count(entry.rcode, entry.type);
    return out;
  }

  private buildCachedAnswer(msg: Buffer, nameEnd: number): CachedAnswer | null {
    let request: Packet;
    try {
      request = Packet.parse(msg);
    } catch {
      return null;
    }
    const bytes = this.reply(request);
    if (!bytes || bytes.length > PLAIN_UDP_LIMIT) return null;
    const offsets = ownerNameOffsets(bytes, msg.subarray(12, nameEnd));
    if (!offsets) return null;
    const answer = Packet.parse(bytes);
    const rcode = PLAIN_RCODES[answer.header.rcode];
    if (!rcode) return null;
    const records = [...answer.answers, ...answer.authorities, ...answer.additionals] as {
      name: string;
      type: number;
      domain?: string;
    }[];
    const qname = normalizeName(request.questions[0].name);
    // Every owner name, and every CNAME target (a chain that ends in a missing name depends on it).
    const cnameTargets = records
      .filter((r) => r.type === Packet.TYPE.CNAME && typeof r.domain === 'string')
      .map((r) => normalizeName(r.domain!));
    const names = [...new Set([qname, ...records.map((r) => normalizeName(r.name)), ...cnameTargets])];
    // The serial it carries is that of the SOA's own zone (after a CNAME, the target's zone).
    const soa = records.find((r) => r.type === Packet.TYPE.SOA);
    const serialZone = soa ? normalizeName(soa.name) : null;
    return {
      bytes: Buffer.from(bytes),
      nameOffsets: offsets,
      rcode,
      type: questionType(request),
      names,
      serialZone,
    };
  }

  /** dns2 does not expose TCP connections; track them so stop() need not wait for idle clients. */
  private trackTcpConnections(server: DNS.DnsServer): void {
    const tcp = (server as unknown as { servers?: { tcp?: NetServer } }).servers?.tcp;
    if (!tcp) return;
    tcp.maxConnections = MAX_TCP_CONNECTIONS;
    tcp.on('connection', (socket: Socket) => {
      this.connections.add(socket);
      socket.once('close', () => this.connections.delete(socket));
    });
  }

  private handle(request: Packet, send: (response: Buffer) => unknown, client: unknown): void {
    let reply: Buffer | undefined;
    try {
      reply = this.reply(request);
    } catch (error) {
      this.logger.error({ err: error }, 'failed to answer query');
      reply = this.errorReply(request, 'SERVFAIL', questionType(request));
    }
    if (!reply) {
      // dns2 keeps a TCP connection open until every request on it was answered: close it now
      // rather than hold it until the idle timeout.
      if (client instanceof Socket) client.destroy();
      return;
    }
    try {
      Promise.resolve(send(reply)).catch((error: Error) =>
        this.logger.warn({ err: error }, 'failed to send DNS answer'),
      );
    } catch (error) {
      this.logger.warn({ err: error }, 'failed to send DNS answer');
    }
  }

  private reply(request: Packet): Buffer | undefined {
    // Answering a response could bounce between two servers forever.
    if (request.header.qr) {
      this.dropped('response packet received');
      return undefined;
    }
    if (request.errors.length > 0 || request.questions.length !== 1) {
      return this.errorReply(request, 'FORMERR', questionType(request));
    }
    const [question] = request.questions;
    const type = Packet.typeName(question.type);
    if (request.header.opcode !== 0) return this.errorReply(request, 'NOTIMP', type);
    const opt = request.additionals.find((r) => r?.type === Packet.TYPE.EDNS);
    if (opt && (opt.version ?? 0) > 0) return this.errorReply(request, 'BADVERS', type);
    if (question.class !== Packet.CLASS.IN && question.class !== Packet.CLASS.ANY) {
      return this.errorReply(request, 'REFUSED', type);
    }

    const resolution = this.store.resolve(question.name, type);
    const response = Packet.createResponseFromRequest(request);
    response.header.aa = resolution.authoritative ? 1 : 0;
    response.header.rcode = Packet.RCODE[resolution.rcode];
    // Owner names are stored in lower case; echo the spelling the client asked with.
    const asked = question.name.endsWith('.') ? question.name.slice(0, -1) : question.name;
    const spell = (name: string) => (name === normalizeName(asked) ? asked : name);
    response.answers = resolution.answers.map((r) => toResource(r, spell));
    response.authorities = resolution.authorities.map((r) => toResource(r, spell));
    response.additionals = resolution.additionals.map((r) => toResource(r, spell));
    if (opt) response.additionals.push(Packet.Resource.EDNS([], { udpPayloadSize: EDNS_UDP_PAYLOAD }));
    this.count(resolution.rcode, type);
    this.logger.debug({ qname: question.name, qtype: type, rcode: resolution.rcode }, 'query');
    return response.toBuffer();
  }

  /** An answer without data; the question is echoed only when it can be encoded again. */
  private errorReply(request: Packet, rcode: DnsRcodeName, type: string): Buffer {
    this.count(rcode, type);
    const response = Packet.createErrorResponseFromRequest(request, Packet.RCODE[rcode]);
    if (request.errors.length > 0 || request.questions.length !== 1) response.questions = [];
    try {
      return response.toBuffer();
    } catch {
      response.questions = [];
      return response.toBuffer();
    }
  }

  private count(rcode: DnsRcodeName, type: string): void {
    this.counters.queries[rcode] = (this.counters.queries[rcode] ?? 0) + 1;
    if (!this.options.onQuery) return;
    try {
      this.options.onQuery(rcode, type);
    } catch (error) {
      this.logger.warn({ err: error }, 'onQuery hook failed');
    }
  }

  private dropped(reason: string): void {
    this.counters.dropped++;
    this.droppedSinceWarn++;
    this.logger.debug({ reason }, 'dropped malformed DNS packet');
    const now = Date.now();
    if (now - this.lastDropWarn >= DROP_WARN_INTERVAL_MS) {
      this.logger.warn(
        { dropped: this.droppedSinceWarn, lastReason: reason },
        'dropping malformed DNS packets',
      );
      this.lastDropWarn = now;
      this.droppedSinceWarn = 0;
    }
  }
}

/**
 * Offsets in an encoded answer where `name` (wire format) is written out in full: the question and
 * every owner name equal to it, case-insensitively. null when the answer cannot be walked.
 */
function ownerNameOffsets(answer: Buffer, name: Buffer): number[] | null {
  const lower = name.toString('latin1').toLowerCase();
  const sameName = (at: number) =>
    at + name.length <= answer.length &&
    answer.toString('latin1', at, at + name.length).toLowerCase() === lower;
  if (!sameName(12)) return null;
  const offsets = [12];
  let i = 12 + name.length + 4;
  const records = answer.readUInt16BE(6) + answer.readUInt16BE(8) + answer.readUInt16BE(10);
  for (let r = 0; r < records; r++) {
    const start = i;
    // Skip the owner name (labels, maybe ending in a compression pointer).
    for (;;) {
      if (i >= answer.length) return null;
      const len = answer[i];
      if (len === 0) {
        i += 1;
        break;
      }
      if ((len & 0xc0) === 0xc0) {
        i += 2;
        break;
      }
      i += len + 1;
    }
    if (i - start === name.length && sameName(start)) offsets.push(start);
    if (i + 10 > answer.length) return null;
    i += 10 + answer.readUInt16BE(i + 8);
  }
  return i === answer.length ? offsets : null;
}

function questionType(request: Packet): string {
  const [question] = request.questions;
  return question ? Packet.typeName(question.type) : 'UNKNOWN';
}

function toResource(record: ZoneRecord, spell: (name: string) => string): Resource {
  const base = {
    name: spell(record.name),
    type: Packet.TYPE[record.type],
    class: Packet.CLASS.IN,
    ttl: record.ttl,
  };
  switch (record.type) {
    case 'A':
    case 'AAAA':
      return new Packet.Resource({ ...base, address: record.value });
    case 'CNAME':
      return new Packet.Resource({ ...base, domain: record.value });
    case 'NS':
      return new Packet.Resource({ ...base, ns: record.value });
    case 'SOA':
      return new Packet.Resource({
        ...base,
        primary: record.soa.mname,
        admin: record.soa.rname,
        serial: record.soa.serial,
        refresh: record.soa.refresh,
        retry: record.soa.retry,
        expiration: record.soa.expire,
        minimum: record.soa.minimum,
      });
  }
}

function freeTcpPort(host: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const probe = createNetServer();
    probe.once('error', reject);
    probe.listen(0, host, () => {
      const address = probe.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      probe.close(() => resolve(port));
    });
  });
}

async function closeWithin(server: DNS.DnsServer, ms: number): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  try {
    await Promise.race([
      Promise.resolve()
        .then(() => server.close())
        .catch(() => undefined),
      new Promise<void>((resolve) => {
        timer = setTimeout(resolve, ms);
        timer.unref();
      }),
    ]);
  } finally {
    if (timer) clearTimeout(timer);
  }
}
