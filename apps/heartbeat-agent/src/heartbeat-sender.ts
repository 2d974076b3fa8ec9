/**
 * Pushes a HeartbeatRequest to every orchestrator in parallel each interval. One request at a time
 * per orchestrator: a slow or dead one is skipped until its request ends (timeout < interval), so
 * requests never stack up and the others keep getting heartbeats.
 *
 * With detection shared across instances, answers name the instances that watch this node (owner,
 * backup): heartbeats then go to those only (added as contacts when not configured) once one of
 * them answers, and to every orchestrator again as soon as none of them has for two intervals.
 *
 * With UDP heartbeats on (config `udpHeartbeats`), an orchestrator whose answer names a udpPort
 * gets a signed datagram instead (libs/contracts/src/udp-heartbeat.ts) while nothing structural
 * changed since the last full HTTP heartbeat it took; its signed acknowledgement counts as contact
 * (the self-fencing lease). HTTP is used again at once when the structure changes, when the
 * acknowledgement asks for it or names other assignments, at least every `fullEveryMs`, and for
 * 3 × fullEveryMs after datagrams went unanswered (a firewall that drops UDP costs two intervals).
 */
import dgram from 'node:dgram';
import { KeyObject } from 'node:crypto';
import type { HeartbeatRequest, HeartbeatResponse } from '@ha/contracts';
import {
  decodeUdpAck,
  encodeUdpHeartbeat,
  udpBootKey,
  udpHead,
  udpHeartbeatKey,
  udpHeartbeatSize,
  UDP_MAX_CHECKS,
  UDP_MAX_DATAGRAM,
  UDP_TYPE_ACK,
  udpVerify,
} from '@ha/contracts/udp-heartbeat';
import { Logger } from 'pino';
import { postJson } from './http-client';
import { HEARTBEAT_RESPONSE_SCHEMA } from './schemas';
import { validatePlain } from './validation';

export interface OrchestratorContact {
  url: string;
  /** Monotonic time (send time) of the last 2xx answer. */
  lastContact?: number;
  lastError?: string;
  inFlight: boolean;
  /** Orchestrator wall clock minus ours, from the last answer (midpoint of the exchange). */
  clockOffsetMs?: number;
  /**
   * Orchestrator wall clock minus our monotonic clock, from the same answer. What the agent's
   * estimate of orchestrator time rests on: a step of our wall clock (NTP, a bad RTC) leaves it
   * right, where a wall-clock offset would be off by the step until the next answer.
   */
  monoOffsetMs?: number;
  /** how the last heartbeat went out */
  transport?: 'http' | 'udp';
}

/** UDP state of one orchestrator (agent side). */
interface UdpPath {
  socket: dgram.Socket;
  port: number;
  /** seq and structure of the last full HTTP heartbeat this orchestrator took */
  baseSeq?: number;
  baseShape?: string;
  baseAt?: number;
  needFull: boolean;
  /** datagrams in flight: seq → monotonic and wall send time (the last few only) */
  pending: Map<number, { at: number; wall: number }>;
  /** datagrams in a row whose acknowledgement did not come in time */
  lostInARow: number;
  /** HTTP only until then, after datagrams went unanswered */
  httpOnlyUntil: number;
}

/** After datagrams went unanswered, heartbeats go by HTTP for this many fullEveryMs before UDP is tried again. */
const UDP_RETRY_FULLS = 3;
const MAX_PENDING_DATAGRAMS = 8;

export interface HeartbeatSenderOptions {
  orchestrators: string[];
  token: string;
  intervalMs: number;
  now: () => number;
  build: () => HeartbeatRequest;
  /** Called with each valid answer; `sentAt` is the monotonic send time. */
  onResponse: (response: HeartbeatResponse, orchestrator: string, sentAt: number) => void;
  logger: Logger;
  /** UDP heartbeats on (see the header) */
  udp?: {
    nodeId: string;
    bootId: string;
    fullEveryMs: number;
    /** the assignmentVersion the agent holds (an acknowledgement naming another asks for HTTP) */
    heldVersion: () => string | undefined;
  };
}

/** What a datagram cannot carry: when it differs from the last full heartbeat's, HTTP goes instead. */
export function heartbeatShape(hb: HeartbeatRequest): string {
  let shape = `${hb.watchdog?.armed === true}|${hb.replicaLagSeconds !== undefined}|`;
  for (const s of hb.scenarios) shape += `${s.scenarioId}:${s.role}:${s.epoch},`;
  shape += '|';
  for (const c of hb.checks) shape += `${c.name}:${c.status},`;
  shape += '|';
  for (const p of hb.peerViews) shape += `${p.nodeId}:${p.reachable},`;
  return shape;
}

export class HeartbeatSender {
  private readonly contacts: OrchestratorContact[];
  private readonly configured: Set<string>;
  /** the instances watching this node, from the latest answer that named them */
  private owners: { urls: string[] } | undefined;
  private readonly udpPaths = new Map<OrchestratorContact, UdpPath>();
  private readonly udpKey: KeyObject | undefined;
  private readonly udpBoot: string | undefined;
  private timer: NodeJS.Timeout | undefined;
  private readonly abort = new AbortController();

  constructor(private readonly options: HeartbeatSenderOptions) {
    this.contacts = options.orchestrators.map((url) => ({ url, inFlight: false }));
    this.configured = new Set(options.orchestrators);
    if (options.udp) {
      this.udpKey = udpHeartbeatKey(options.token, options.udp.nodeId);
      this.udpBoot = udpBootKey(options.udp.bootId);
    }
  }

  start(): void {
    const tick = (): void => {
      this.sendRound();
      this.timer = setTimeout(tick, this.options.intervalMs);
    };
    tick();
  }

  stop(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
    this.abort.abort();
    for (const path of this.udpPaths.values()) path.socket.close();
    this.udpPaths.clear();
  }

  /** Latest contact with any orchestrator (monotonic), or undefined if none yet. */
  lastContact(): number | undefined {
    const times = this.contacts.map((c) => c.lastContact).filter((t): t is number => t !== undefined);
    return times.length > 0 ? Math.max(...times) : undefined;
  }

  status(): OrchestratorContact[] {
    return this.contacts.map((c) => ({ ...c }));
  }

  /** Whether an orchestrator has answered since start (clockOffsetMs is measured, not assumed 0). */
  hasClockOffset(): boolean {
    return this.contacts.some((c) => c.monoOffsetMs !== undefined);
  }

  /** The orchestrators' wall-clock time now, from the latest answer (our own clock before any). */
  orchestratorNow(): number {
    let best: OrchestratorContact | undefined;
    for (const c of this.contacts) {
      if (
        c.monoOffsetMs !== undefined &&
        (best === undefined || (c.lastContact ?? 0) > (best.lastContact ?? 0))
      )
        best = c;
    }
    return best?.monoOffsetMs !== undefined ? this.options.now() + best.monoOffsetMs : Date.now();
  }

  /** Orchestrator clock minus our wall clock, now (0 before any answer). */
  clockOffsetMs(): number {
    return this.hasClockOffset() ? this.orchestratorNow() - Date.now() : 0;
  }

  /** An answer stamped `serverTime` to an exchange between these monotonic and wall times. */
  private noteServerTime(
    contact: OrchestratorContact,
    serverTime: number,
    sentMono: number,
    sentWall: number,
  ): void {
    contact.monoOffsetMs = serverTime - (sentMono + this.options.now()) / 2;
    contact.clockOffsetMs = serverTime - (sentWall + Date.now()) / 2;
  }

  /**
   * One extra heartbeat to every orchestrator now, outside the schedule, asking for `confirmEpochs`
   * to be read from PostgreSQL. Resolves true once the first valid answer has been applied, false
   * when none answered within `timeoutMs`.
   */
  exchangeNow(confirmEpochs: string[], timeoutMs = 2000): Promise<boolean> {
    const request = { ...this.options.build(), confirmEpochs };
    const shape = this.udpKey ? heartbeatShape(request) : undefined;
    return new Promise((resolve) => {
      let pending = this.contacts.length;
      const done = (ok: boolean): void => {
        pending--;
        if (ok) resolve(true);
        else if (pending === 0) resolve(false);
      };
      for (const contact of this.contacts) {
        void this.sendOne(contact, request, timeoutMs, false, shape).then(done, () => done(false));
      }
    });
  }

  /**
   * The owners' contacts while one of them answers; null = every contact (none named, or none of
   * them answering yet: an owner URL this node cannot reach, behind NAT say, never costs contact).
   */
  private routed(now: number): OrchestratorContact[] | null {
    if (!this.owners) return null;
    const window = 2 * this.options.intervalMs + 500;
    const owned = this.contacts.filter((c) => this.owners!.urls.includes(c.url));
    return owned.some((c) => c.lastContact !== undefined && now - c.lastContact <= window) ? owned : null;
  }

  /** An answer named the instances watching this node: route to them, adding unknown ones. */
  private noteOwners(urls: string[] | undefined): void {
    if (!urls || urls.length === 0) {
      this.owners = undefined;
      return;
    }
    const clean = urls.map((u) => u.replace(/\/+$/, ''));
    this.owners = { urls: clean };
    for (const url of clean)
      if (!this.contacts.some((c) => c.url === url)) this.contacts.push({ url, inFlight: false });
    // Instances learnt this way and no longer named are forgotten (configured ones stay).
    for (let i = this.contacts.length - 1; i >= 0; i--) {
      const c = this.contacts[i];
      if (!this.configured.has(c.url) && !clean.includes(c.url) && !c.inFlight) {
        this.udpPaths.get(c)?.socket.close();
        this.udpPaths.delete(c);
        this.contacts.splice(i, 1);
      }
    }
  }

  /** Base URLs of the instances this node's heartbeats go to now (empty: every orchestrator). */
  ownerUrls(): string[] {
    return this.routed(this.options.now())?.map((c) => c.url) ?? [];
  }

  private sendRound(): void {
    const targets = this.routed(this.options.now()) ?? this.contacts;
    const open = targets.filter((c) => !c.inFlight || this.udpPaths.get(c)?.baseSeq !== undefined);
    if (open.length === 0) return;
    const request = this.options.build();
    const shape = this.udpKey ? heartbeatShape(request) : '';
    for (const contact of open) {
      // A full heartbeat the orchestrator asked for goes by HTTP; while one is on its way (slow
      // answers after a change of members, when every agent sends one), datagrams keep the
      // liveness going.
      const wantsFull = this.udpPaths.get(contact)?.needFull === true;
      if (!contact.inFlight && (wantsFull || !this.sendDatagram(contact, request, shape)))
        void this.sendOne(contact, request, undefined, true, shape);
      else if (contact.inFlight) this.sendDatagram(contact, request, shape);
    }
  }

  /** Sends `request` as a datagram when this orchestrator may take one now; false = send HTTP. */
  private sendDatagram(contact: OrchestratorContact, request: HeartbeatRequest, shape: string): boolean {
    const path = this.udpPaths.get(contact);
    const key = this.udpKey;
    if (!path || !key || path.baseSeq === undefined || path.baseShape !== shape) return false;
    const now = this.options.now();
    if (now < path.httpOnlyUntil || now - (path.baseAt ?? 0) >= this.options.udp!.fullEveryMs) return false;
    if (
      request.checks.length > UDP_MAX_CHECKS ||
      udpHeartbeatSize(request.checks.length, request.peerViews.length) > UDP_MAX_DATAGRAM
    )
      return false;
    const datagram = encodeUdpHeartbeat(
      {
        nodeId: request.nodeId,
        bootKey: this.udpBoot!,
        seq: request.seq,
        baseSeq: path.baseSeq,
        watchdogArmed: request.watchdog?.armed === true,
        ...(request.replicaLagSeconds !== undefined && { replicaLagSeconds: request.replicaLagSeconds }),
        checks: request.checks.map((c) => ({ status: c.status, at: c.at, durationMs: c.durationMs })),
        peerViews: request.peerViews.map((p) => ({
          nodeId: p.nodeId,
          reachable: p.reachable,
          lastSeenMsAgo: p.lastSeenMsAgo ?? null,
        })),
      },
      key,
    );
    path.pending.set(request.seq, { at: now, wall: Date.now() });
    if (path.pending.size > MAX_PENDING_DATAGRAMS) path.pending.delete(path.pending.keys().next().value!);
    const seq = request.seq;
    setTimeout(() => this.onAckTimeout(contact, path, seq), this.ackTimeoutMs).unref();
    contact.transport = 'udp';
    path.socket.send(datagram, (err) => {
      if (err) this.fail(contact, `UDP send failed: ${(err as NodeJS.ErrnoException).code ?? err.message}`);
    });
    return true;
  }

  /** An acknowledgement takes a round trip; beyond this the datagram counts as lost. */
  private get ackTimeoutMs(): number {
    return Math.min(250, Math.floor(this.options.intervalMs / 2));
  }

  /**
   * No acknowledgement in time: the same heartbeat goes by HTTP now (TCP retransmits what a lossy
   * link drops), so one lost datagram never leaves a gap of two intervals. Twice in a row (UDP
   * dropped on the way, or the orchestrator no longer holds our key): HTTP only for a while.
   */
  private onAckTimeout(contact: OrchestratorContact, path: UdpPath, seq: number): void {
    if (!path.pending.has(seq) || this.udpPaths.get(contact) !== path) return;
    path.pending.delete(seq);
    path.lostInARow++;
    if (path.lostInARow >= 2) {
      path.httpOnlyUntil = this.options.now() + UDP_RETRY_FULLS * this.options.udp!.fullEveryMs;
      path.lostInARow = 0;
      path.pending.clear();
      this.fail(contact, 'UDP heartbeats unanswered: HTTP for now');
    }
    this.sendFullNow(contact);
  }

  /** A full HTTP heartbeat to this orchestrator now, outside the schedule (unless one is in flight). */
  private sendFullNow(contact: OrchestratorContact): void {
    if (contact.inFlight) return;
    const request = this.options.build();
    void this.sendOne(contact, request, undefined, true, heartbeatShape(request));
  }

  /** The orchestrator offers UDP on `port` (from its HTTP answer): open, move or close the path. */
  private updateUdpPath(contact: OrchestratorContact, port: number | undefined): UdpPath | undefined {
    const current = this.udpPaths.get(contact);
    if (!this.udpKey || port === undefined) {
      if (current) {
        current.socket.close();
        this.udpPaths.delete(contact);
      }
      return undefined;
    }
    if (current?.port === port) return current;
    current?.socket.close();
    const host = new URL(contact.url).hostname.replace(/^\[|\]$/g, '');
    const socket = dgram.createSocket(host.includes(':') ? 'udp6' : 'udp4');
    const path: UdpPath = {
      socket,
      port,
      needFull: true,
      pending: new Map(),
      lostInARow: 0,
      httpOnlyUntil: 0,
    };
    socket.on('message', (msg) => this.onAck(contact, path, msg));
    // ECONNREFUSED (ICMP port unreachable) and the like: the unanswered timer falls back to HTTP.
    socket.on('error', (err) =>
      this.fail(contact, `UDP: ${(err as NodeJS.ErrnoException).code ?? err.message}`),
    );
    socket.connect(port, host);
    socket.unref();
    this.udpPaths.set(contact, path);
    return path;
  }

  private onAck(contact: OrchestratorContact, path: UdpPath, msg: Buffer): void {
    const head = udpHead(msg);
    if (!head || head.type !== UDP_TYPE_ACK || !udpVerify(this.udpKey!, msg)) return;
    const ack = decodeUdpAck(msg);
    if (!ack || ack.nodeId !== this.options.udp!.nodeId || ack.bootKey !== this.udpBoot) return;
    const sent = path.pending.get(ack.seq);
    if (!sent) return; // a duplicate, or older than the last few
    for (const seq of path.pending.keys()) if (seq <= ack.seq) path.pending.delete(seq);
    path.lostInARow = 0;
    contact.lastContact = Math.max(sent.at, contact.lastContact ?? Number.NEGATIVE_INFINITY);
    this.noteServerTime(contact, ack.serverTime, sent.at, sent.wall);
    if (contact.lastError !== undefined) {
      this.options.logger.info(
        { event: 'orchestrator.reachable', orchestrator: contact.url, transport: 'udp' },
        'orchestrator reachable again',
      );
      contact.lastError = undefined;
    }
    if (ack.needFull || ack.assignmentVersion !== this.options.udp!.heldVersion()) {
      // Its assignments changed, or it lacks our full report: HTTP now, not an interval later.
      path.needFull = true;
      this.sendFullNow(contact);
    }
  }

  /** Resolves true when the answer was valid and applied. */
  private async sendOne(
    contact: OrchestratorContact,
    request: HeartbeatRequest,
    timeoutMs = Math.max(50, Math.floor(this.options.intervalMs * 0.9)),
    scheduled = true,
    /** heartbeatShape(request) when UDP is on: a 2xx makes this request the datagrams' base */
    shape?: string,
  ): Promise<boolean> {
    if (scheduled) contact.inFlight = true;
    contact.transport = 'http';
    const sentAt = this.options.now();
    const sentAtWall = Date.now();
    try {
      const res = await postJson(`${contact.url}/api/v1/heartbeats`, JSON.stringify(request), {
        headers: { 'content-type': 'application/json', authorization: `Bearer ${this.options.token}` },
        timeoutMs,
        signal: this.abort.signal,
      });
      const text = res.text;
      if (res.status < 200 || res.status > 299) {
        this.fail(contact, `HTTP ${res.status}`);
        return false;
      }
      // A 2xx is contact, even if the body is unusable: the orchestrator took our heartbeat.
      contact.lastContact = Math.max(sentAt, contact.lastContact ?? Number.NEGATIVE_INFINITY);
      let response: HeartbeatResponse;
      try {
        response = validatePlain<HeartbeatResponse>(HEARTBEAT_RESPONSE_SCHEMA, JSON.parse(text), {
          forbidUnknown: false,
        });
      } catch (err) {
        this.fail(contact, `invalid heartbeat response: ${(err as Error).message}`);
        return false;
      }
      this.noteServerTime(contact, response.serverTime, sentAt, sentAtWall);
      this.noteOwners(response.owners);
      const path = this.updateUdpPath(contact, response.udpPort);
      if (path && shape !== undefined) {
        path.baseSeq = request.seq;
        path.baseShape = shape;
        path.baseAt = sentAt;
        path.needFull = false;
      }
      if (contact.lastError !== undefined) {
        this.options.logger.info(
          { event: 'orchestrator.reachable', orchestrator: contact.url },
          'orchestrator reachable again',
        );
      }
      contact.lastError = undefined;
      this.options.onResponse(response, contact.url, sentAt);
      return true;
    } catch (err) {
      if (this.abort.signal.aborted) return false;
      const e = err as NodeJS.ErrnoException;
      this.fail(
        contact,
        e.name === 'TimeoutError' ? `timed out after ${timeoutMs} ms` : (e.code ?? e.message),
      );
      return false;
    } finally {
      if (scheduled) contact.inFlight = false;
    }
  }

  private fail(contact: OrchestratorContact, reason: string): void {
    if (contact.lastError !== reason) {
      this.options.logger.warn(
        { event: 'orchestrator.heartbeat_failed', orchestrator: contact.url, reason },
        'heartbeat to orchestrator failed',
      );
    }
    contact.lastError = reason;
  }
}
