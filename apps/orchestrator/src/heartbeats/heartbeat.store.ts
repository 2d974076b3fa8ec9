/**
 * Live heartbeat state, in memory: the heartbeat path never writes PostgreSQL per request.
 * - node_status rows are upserted in one statement every HEARTBEAT_FLUSH_MS for nodes that changed;
 * - "last contact" times go to a Redis hash every 200 ms, so workers in other processes can tell
 *   when a node's self-fencing lease has surely expired.
 */
import { Injectable, OnApplicationBootstrap, OnApplicationShutdown, Optional } from '@nestjs/common';
import { HeartbeatRequest, PeerView, udpBootKey, UdpHeartbeat } from '@ha/contracts';
import { DataSource } from 'typeorm';
import { DetectorMembership } from '../cluster/membership.service';
import { createLogger } from '../common/logger';
import { AppConfig } from '../config/app-config';
import { RedisService } from '../redis/redis.service';

const log = createLogger('HeartbeatStore');

export interface LiveNode {
  nodeId: string;
  /** orchestrator clock, ms */
  lastSeenAt: number;
  /** latest sequence number, HTTP or UDP */
  seq: number;
  bootId: string;
  /** udpBootKey(bootId): what UDP datagrams name the boot by */
  bootKey: string;
  /** the latest full (HTTP) report, with the deltas of later datagrams applied; its seq is the full one's */
  report: HeartbeatRequest;
}

/** What became of a UDP heartbeat (see acceptUdp). */
export type UdpOutcome = 'accepted' | 'need_full' | 'replay' | 'unknown_boot';

/** How one observer (a peer agent) last saw a node. */
export interface PeerObservation {
  observerNodeId: string;
  /** orchestrator clock when the observer last heard the node; null = never */
  seenAt: number | null;
  reachable: boolean;
  /** orchestrator clock when the observer reported this */
  reportedAt: number;
}

const MAX_SET_LUA = `
for i = 1, #ARGV, 2 do
  local cur = tonumber(redis.call('HGET', KEYS[1], ARGV[i]) or '0')
  if tonumber(ARGV[i + 1]) > cur then redis.call('HSET', KEYS[1], ARGV[i], ARGV[i + 1]) end
end
return 1`;

@Injectable()
export class HeartbeatStore implements OnApplicationBootstrap, OnApplicationShutdown {
  private readonly live = new Map<string, LiveNode>();
  private readonly peerViews = new Map<string, Map<string, PeerObservation>>();
  private readonly dirtyPg = new Set<string>();
  private readonly dirtyContact = new Map<string, number>();
  /** nodeId → '1' (watchdog armed) / '0', as of its latest heartbeat; written with the contacts. */
  private readonly dirtyWatchdog = new Map<string, string>();
  /** peer views about nodes another instance owns, for its detector: `${nodeId}|${observer}` → view */
  private readonly remoteViews = new Map<string, { nodeId: string; view: PeerObservation }>();
  /**
   * Nodes a failover's lease wait needs every observer's views of (see wantPeerViews): their views
   * are published to Redis like remote ones, whoever owns them. Refreshed once a second.
   */
  private viewsWanted = new Set<string>();
  private viewsWantedReadAt = 0;
  /** nodes whose watchdog flag was written at least once by this instance */
  private readonly watchdogSeen = new Set<string>();
  private timers: NodeJS.Timeout[] = [];
  readonly startedAt = Date.now();

  constructor(
    private readonly config: AppConfig,
    private readonly dataSource: DataSource,
    private readonly redis: RedisService,
    @Optional() private readonly membership?: DetectorMembership,
  ) {}

  onApplicationBootstrap(): void {
    this.timers.push(setInterval(() => void this.flushPg(), this.config.HEARTBEAT_FLUSH_MS));
    this.timers.push(setInterval(() => void this.flushContacts(), 200));
    for (const t of this.timers) t.unref();
  }

  async onApplicationShutdown(): Promise<void> {
    for (const t of this.timers) clearInterval(t);
    await this.flushPg();
    await this.flushContacts();
  }

  get contactKey(): string {
    return `${this.redis.prefix}:lastcontact`;
  }

  get watchdogKey(): string {
    return watchdogKey(this.redis);
  }

  /** Returns false when the heartbeat is older than one already seen (same boot, lower seq). */
  accept(hb: HeartbeatRequest, now = Date.now()): boolean {
    const prev = this.live.get(hb.nodeId);
    if (prev && prev.bootId === hb.bootId && hb.seq <= prev.seq) return false;
    this.live.set(hb.nodeId, {
      nodeId: hb.nodeId,
      lastSeenAt: now,
      seq: hb.seq,
      bootId: hb.bootId,
      bootKey: prev && prev.bootId === hb.bootId ? prev.bootKey : udpBootKey(hb.bootId),
      report: hb,
    });
    this.touched(hb.nodeId, now, prev?.report.watchdog?.armed === true, hb.watchdog?.armed === true);
    this.notePeerViews(hb.nodeId, hb.peerViews, now);
    return true;
  }

  /**
   * A verified UDP heartbeat: liveness for the boot the last HTTP heartbeat named, with a higher
   * sequence number; its deltas (check results, peer views, lag, watchdog) only on top of the full
   * report it names as its base. `need_full`: liveness taken, deltas not (the agent should send HTTP).
   */
  acceptUdp(hb: UdpHeartbeat, now = Date.now()): UdpOutcome {
    const prev = this.live.get(hb.nodeId);
    if (!prev || prev.bootKey !== hb.bootKey) return 'unknown_boot';
    if (hb.seq <= prev.seq) return 'replay';
    prev.lastSeenAt = now;
    prev.seq = hb.seq;
    const base = prev.report;
    if (base.seq !== hb.baseSeq || base.checks.length !== hb.checks.length) {
      const armed = base.watchdog?.armed === true;
      this.touched(hb.nodeId, now, armed, armed);
      return 'need_full';
    }
    // In place: the report is this store's own copy (the parsed body of the full heartbeat), and a
    // UDP heartbeat must not cost a copy of it.
    const wasArmed = base.watchdog?.armed === true;
    for (let i = 0; i < hb.checks.length; i++) {
      const c = base.checks[i];
      const d = hb.checks[i];
      c.status = d.status;
      c.at = d.at;
      c.durationMs = d.durationMs;
    }
    if (base.watchdog) base.watchdog.armed = hb.watchdogArmed;
    if (hb.replicaLagSeconds === undefined) delete base.replicaLagSeconds;
    else base.replicaLagSeconds = hb.replicaLagSeconds;
    this.touched(hb.nodeId, now, wasArmed, base.watchdog?.armed === true);
    this.notePeerViews(hb.nodeId, hb.peerViews, now);
    return 'accepted';
  }

  /** A heartbeat was taken: state to flush, contact time, watchdog flag when it changed. */
  private touched(nodeId: string, now: number, wasArmed: boolean, armed: boolean): void {
    this.dirtyPg.add(nodeId);
    this.noteContact(nodeId, now);
    // Written to Redis when it changes, not with every heartbeat.
    if (wasArmed !== armed || !this.watchdogSeen.has(nodeId)) {
      this.watchdogSeen.add(nodeId);
      this.dirtyWatchdog.set(nodeId, armed ? '1' : '0');
    }
  }

  private notePeerViews(observerNodeId: string, views: PeerView[], now: number): void {
    for (const v of views) {
      const seenAt = v.lastSeenMsAgo === null || v.lastSeenMsAgo === undefined ? null : now - v.lastSeenMsAgo;
      let m = this.peerViews.get(v.nodeId);
      if (!m) this.peerViews.set(v.nodeId, (m = new Map()));
      const view = { observerNodeId, seenAt, reachable: v.reachable, reportedAt: now };
      m.set(observerNodeId, view);
      if (seenAt !== null) this.noteContact(v.nodeId, seenAt);
      if (this.viewsWanted.has(v.nodeId) || (this.membership?.enabled && !this.membership.owns(v.nodeId)))
        this.remoteViews.set(`${v.nodeId}|${observerNodeId}`, { nodeId: v.nodeId, view });
    }
  }

  private noteContact(nodeId: string, at: number): void {
    if ((this.dirtyContact.get(nodeId) ?? 0) < at) this.dirtyContact.set(nodeId, at);
  }

  get(nodeId: string): LiveNode | undefined {
    return this.live.get(nodeId);
  }

  /** What peers report about `nodeId`. */
  observationsOf(nodeId: string): PeerObservation[] {
    return [...(this.peerViews.get(nodeId)?.values() ?? [])];
  }

  async flushContacts(): Promise<void> {
    if (Date.now() - this.viewsWantedReadAt >= VIEWS_WANTED_REFRESH_MS) {
      this.viewsWantedReadAt = Date.now();
      try {
        const wanted = await this.redis.client.hgetall(viewsWantedKey(this.redis));
        const now = Date.now();
        this.viewsWanted = new Set(Object.keys(wanted).filter((id) => Number(wanted[id]) > now));
      } catch {
        /* Redis down: keep the last set */
      }
    }
    if (this.remoteViews.size > 0) {
      const views = [...this.remoteViews.values()];
      this.remoteViews.clear();
      const pipeline = this.redis.client.pipeline();
      for (const { nodeId, view } of views) {
        const key = peerViewsKey(this.redis, nodeId);
        pipeline.hset(key, view.observerNodeId, encodePeerView(view)).pexpire(key, PEER_VIEWS_TTL_MS);
      }
      // Lost with Redis down: the next heartbeats bring newer ones, and stale ones are not fresh anyway.
      await pipeline.exec().catch(() => undefined);
    }
    if (this.dirtyWatchdog.size > 0) {
      const watchdogs = new Map(this.dirtyWatchdog);
      this.dirtyWatchdog.clear();
      try {
        await this.redis.client.hset(this.watchdogKey, Object.fromEntries(watchdogs));
      } catch {
        for (const [id, v] of watchdogs) if (!this.dirtyWatchdog.has(id)) this.dirtyWatchdog.set(id, v);
      }
    }
    if (this.dirtyContact.size === 0) return;
    const batch = new Map(this.dirtyContact);
    const args: string[] = [];
    for (const [id, at] of batch) args.push(id, String(Math.floor(at)));
    this.dirtyContact.clear();
    try {
      await this.redis.client.eval(MAX_SET_LUA, 1, this.contactKey, ...args);
    } catch (err) {
      // Keep them for the next flush: a lost contact time would let a lease look expired too early.
      for (const [id, at] of batch) this.noteContact(id, at);
      log.debug({ err: (err as Error).message }, 'last-contact flush failed');
    }
  }

  async flushPg(): Promise<void> {
    if (this.dirtyPg.size === 0) return;
    const ids = [...this.dirtyPg];
    this.dirtyPg.clear();
    const rows = ids.map((id) => this.live.get(id)).filter((x): x is LiveNode => !!x);
    try {
      await this.upsertStatus(rows);
    } catch (err) {
      if (!isDataError(err)) {
        // Fail static: keep the rows dirty and try again next time.
        for (const id of ids) this.dirtyPg.add(id);
        log.warn({ err: (err as Error).message, nodes: ids.length }, 'node_status flush failed');
        return;
      }
      // One row PostgreSQL refuses must not hold back every other node's state forever.
      for (const row of rows) {
        try {
          await this.upsertStatus([row]);
        } catch (rowErr) {
          if (!isDataError(rowErr)) this.dirtyPg.add(row.nodeId);
          else
            log.error(
              { err: (rowErr as Error).message, nodeId: row.nodeId },
              'node_status row refused; skipped',
            );
        }
      }
    }
  }

  private async upsertStatus(rows: LiveNode[]): Promise<void> {
    if (rows.length === 0) return;
    const values: unknown[] = [];
    const tuples = rows.map((r, i) => {
      values.push(r.nodeId, new Date(r.lastSeenAt), r.seq, r.bootId, JSON.stringify(r.report));
      const b = i * 5;
      return `($${b + 1}::uuid, $${b + 2}::timestamptz, $${b + 3}, $${b + 4}, $${b + 5}::jsonb, now())`;
    });
    await this.dataSource.query(
      `INSERT INTO node_status ("nodeId", "lastSeenAt", "lastSeq", "bootId", "report", "updatedAt")
       VALUES ${tuples.join(',')}
       ON CONFLICT ("nodeId") DO UPDATE SET "lastSeenAt" = EXCLUDED."lastSeenAt", "lastSeq" = EXCLUDED."lastSeq",
         "bootId" = EXCLUDED."bootId", "report" = EXCLUDED."report", "updatedAt" = now()`,
      values,
    );
  }
}

/** SQLSTATE class 22 (data exception: out of range, bad encoding, invalid JSON…): retrying never helps. */
function isDataError(err: unknown): boolean {
  const code =
    (err as { code?: unknown; driverError?: { code?: unknown } }).driverError?.code ??
    (err as { code?: unknown }).code;
  return typeof code === 'string' && code.startsWith('22');
}

/** Views of a node published by the instances that took its observers' heartbeats. */
const PEER_VIEWS_TTL_MS = 60_000;
const VIEWS_WANTED_REFRESH_MS = 1000;

function viewsWantedKey(redis: RedisService): string {
  return `${redis.prefix}:viewswanted`;
}

/**
 * Asks every instance to publish what observers report about `nodeId` (readPeerViews) for the next
 * `forMs`, whichever instance owns it: a lease wait whose question to a peer's agent got no answer
 * falls back on that peer's heartbeats.
 */
export async function wantPeerViews(redis: RedisService, nodeId: string, forMs = 120_000): Promise<void> {
  const key = viewsWantedKey(redis);
  const now = Date.now();
  await redis.client.hset(key, nodeId, String(now + forMs));
  // Expired entries go the next time anyone asks (the hash stays as small as the failovers in progress).
  const all = await redis.client.hgetall(key);
  const stale = Object.keys(all).filter((id) => Number(all[id]) <= now);
  if (stale.length) await redis.client.hdel(key, ...stale);
}

function peerViewsKey(redis: RedisService, nodeId: string): string {
  return `${redis.prefix}:peerviews:${nodeId}`;
}

function encodePeerView(v: PeerObservation): string {
  return `${v.seenAt ?? ''}|${v.reachable ? 1 : 0}|${v.reportedAt}`;
}

/**
 * Read side for the detector of another instance: what peers of each node reported to the instances
 * that took their heartbeats (one round trip for all of them).
 */
export async function readPeerViews(
  redis: RedisService,
  nodeIds: string[],
): Promise<Map<string, PeerObservation[]>> {
  const pipeline = redis.client.pipeline();
  for (const id of nodeIds) pipeline.hgetall(peerViewsKey(redis, id));
  const results = (await pipeline.exec()) ?? [];
  const out = new Map<string, PeerObservation[]>();
  nodeIds.forEach((id, i) => {
    const [err, hash] = results[i] ?? [];
    if (err) throw err;
    const views: PeerObservation[] = [];
    for (const [observerNodeId, v] of Object.entries((hash ?? {}) as Record<string, string>)) {
      const [seen, reachable, reportedAt] = v.split('|');
      views.push({
        observerNodeId,
        seenAt: seen === '' ? null : Number(seen),
        reachable: reachable === '1',
        reportedAt: Number(reportedAt),
      });
    }
    out.set(id, views);
  });
  return out;
}

function watchdogKey(redis: RedisService): string {
  return `${redis.prefix}:watchdog`;
}

/**
 * Whether the node's agent said, in its latest heartbeat, that its watchdog is armed: the only
 * thing that makes "its lease expired" mean "its service is down" when the agent is frozen.
 */
export async function readWatchdogArmed(redis: RedisService, nodeId: string): Promise<boolean> {
  return (await redis.client.hget(watchdogKey(redis), nodeId)) === '1';
}

/** Read side for workers: the last time anyone (orchestrator or a peer agent) heard from a node. */
export async function readLastContact(redis: RedisService, nodeId: string): Promise<number | null> {
  const v = await redis.client.hget(`${redis.prefix}:lastcontact`, nodeId);
  return v ? Number(v) : null;
}
