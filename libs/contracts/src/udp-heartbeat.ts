/**
 * The UDP heartbeat: a compact, signed datagram an agent sends instead of an HTTP heartbeat when
 * nothing but liveness and a few numbers changed, and the orchestrator's signed acknowledgement.
 *
 * Keys. The datagram is signed with HMAC-SHA256 under a per-node key derived from the node's agent
 * token: key = HMAC-SHA256(token, "ha-udp-heartbeat-v1:" + nodeId). The agent holds its token; the
 * orchestrator (which stores only the token's hash) derives the same key from the bearer token of
 * the node's HTTP heartbeats and keeps it in memory only, for as long as those keep coming. So a
 * database dump cannot forge heartbeats, rotating the agent token rotates the key, and no new secret
 * has to be handed out.
 *
 * Deltas. A datagram carries what changes every interval (sequence number, the time and status of
 * each local check, each peer view, replication lag, watchdog armed) relative to the agent's last
 * full HTTP heartbeat, named by its sequence number (`baseSeq`). Everything structural (role and
 * epoch per scenario, which checks exist, a check's status or a peer's reachability changing) goes
 * by HTTP. An orchestrator that does not hold that base report takes the liveness, ignores the
 * deltas and asks for a full heartbeat in its acknowledgement.
 *
 * Replays and forgeries: the signature covers the whole datagram; a datagram is taken only for the
 * boot (bootId) the orchestrator knows from HTTP and only with a sequence number above the last one
 * seen from that boot.
 *
 * Layout (big-endian), heartbeat:
 *   0  'H' 'B'          magic
 *   2  u8  version = 1
 *   3  u8  type = 1 (heartbeat)
 *   4  16  nodeId (UUID bytes)
 *  20  16  boot key (UUID bytes of bootId, or the first 16 bytes of its SHA-256)
 *  36  u32 seq
 *  40  u32 baseSeq
 *  44  u8  flags (bit 0: watchdog armed, bit 1: replica lag present)
 *  45  f64 replicaLagSeconds (0 when absent)
 *  53  u8  check count, then per check: u8 status, f64 at (agent clock ms), u32 durationMs
 *   …  u16 peer count, then per peer: 16 nodeId, u8 reachable, u32 lastSeenMsAgo (0xffffffff = never)
 *   …  32  HMAC-SHA256 of everything before
 * acknowledgement:
 *   0  'H' 'B', u8 version = 1, u8 type = 2 (ack)
 *   4  16 nodeId, 20 16 boot key, 36 u32 seq acknowledged
 *  40  u8  flags (bit 0: send a full HTTP heartbeat)
 *  41  f64 serverTime (orchestrator wall clock, ms)
 *  49  u8  length of assignmentVersion, then its ASCII bytes
 *   …  32  HMAC-SHA256 of everything before
 */
import { createHash, createHmac, KeyObject, createSecretKey, timingSafeEqual } from 'node:crypto';
import { CHECK_STATUSES, CheckStatus } from './checks';

export const UDP_MAGIC_0 = 0x48; // 'H'
export const UDP_MAGIC_1 = 0x42; // 'B'
export const UDP_VERSION = 1;
export const UDP_TYPE_HEARTBEAT = 1;
export const UDP_TYPE_ACK = 2;
export const UDP_FLAG_WATCHDOG_ARMED = 1;
export const UDP_FLAG_LAG = 2;
export const UDP_ACK_FLAG_NEED_FULL = 1;
const MAC_BYTES = 32;
const HEADER_BYTES = 53;
const CHECK_BYTES = 13;
const PEER_BYTES = 21;
const NEVER = 0xffffffff;
/** Beyond this a datagram would be fragmented on most links: such a node sends HTTP instead. */
export const UDP_MAX_DATAGRAM = 1400;
export const UDP_MAX_CHECKS = 255;

export interface UdpCheck {
  status: CheckStatus;
  at: number;
  durationMs: number;
}

export interface UdpPeerView {
  nodeId: string;
  reachable: boolean;
  lastSeenMsAgo: number | null;
}

export interface UdpHeartbeat {
  nodeId: string;
  /** hex of the 16-byte boot key */
  bootKey: string;
  seq: number;
  baseSeq: number;
  watchdogArmed: boolean;
  replicaLagSeconds?: number;
  checks: UdpCheck[];
  peerViews: UdpPeerView[];
}

export interface UdpAck {
  nodeId: string;
  bootKey: string;
  seq: number;
  needFull: boolean;
  serverTime: number;
  assignmentVersion: string;
}

/** The per-node datagram key (see the header). */
export function udpHeartbeatKey(agentToken: string, nodeId: string): KeyObject {
  return createSecretKey(
    createHmac('sha256', agentToken).update(`ha-udp-heartbeat-v1:${nodeId.toLowerCase()}`).digest(),
  );
}

const UUID_RE = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** 16 bytes naming a boot: its UUID, or (any other string) the start of its SHA-256. */
export function udpBootKey(bootId: string): string {
  if (UUID_RE.test(bootId)) return bootId.replace(/-/g, '').toLowerCase();
  return createHash('sha256').update(bootId).digest('hex').slice(0, 32);
}

/** Lower-case hex of a UUID's 16 bytes (the form the datagram carries), or null if not a UUID. */
export function uuidHex(id: string): string | null {
  // Slices, not a regex replace: this runs for every acknowledgement.
  if (id.length !== 36 || id[8] !== '-' || id[13] !== '-' || id[18] !== '-' || id[23] !== '-') return null;
  const hex = (
    id.slice(0, 8) +
    id.slice(9, 13) +
    id.slice(14, 18) +
    id.slice(19, 23) +
    id.slice(24)
  ).toLowerCase();
  return HEX32_RE.test(hex) ? hex : null;
}
const HEX32_RE = /^[0-9a-f]{32}$/;

export function hexToUuid(hex: string): string {
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

/** Size of a heartbeat datagram with this many checks and peer views. */
export function udpHeartbeatSize(checks: number, peers: number): number {
  return HEADER_BYTES + 1 + checks * CHECK_BYTES + 2 + peers * PEER_BYTES + MAC_BYTES;
}

function sign(key: KeyObject, buf: Buffer, end: number): void {
  createHmac('sha256', key).update(buf.subarray(0, end)).digest().copy(buf, end);
}

/** True when the last 32 bytes are the HMAC of the rest under `key`. */
export function udpVerify(key: KeyObject, buf: Buffer): boolean {
  if (buf.length <= MAC_BYTES) return false;
  const end = buf.length - MAC_BYTES;
  const mac = createHmac('sha256', key).update(buf.subarray(0, end)).digest();
  return timingSafeEqual(mac, buf.subarray(end));
}

function writeHead(buf: Buffer, type: number, nodeHex: string, bootKey: string, seq: number): void {
  buf[0] = UDP_MAGIC_0;
  buf[1] = UDP_MAGIC_1;
  buf[2] = UDP_VERSION;
  buf[3] = type;
  buf.write(nodeHex, 4, 16, 'hex');
  buf.write(bootKey, 20, 16, 'hex');
  buf.writeUInt32BE(seq >>> 0, 36);
}

export function encodeUdpHeartbeat(hb: UdpHeartbeat, key: KeyObject): Buffer {
  const nodeHex = uuidHex(hb.nodeId);
  if (!nodeHex) throw new Error('nodeId must be a UUID');
  if (hb.checks.length > UDP_MAX_CHECKS) throw new Error(`more than ${UDP_MAX_CHECKS} checks`);
  const size = udpHeartbeatSize(hb.checks.length, hb.peerViews.length);
  if (size > UDP_MAX_DATAGRAM) throw new Error(`datagram of ${size} bytes is above ${UDP_MAX_DATAGRAM}`);
  const buf = Buffer.allocUnsafe(size);
  writeHead(buf, UDP_TYPE_HEARTBEAT, nodeHex, hb.bootKey, hb.seq);
  buf.writeUInt32BE(hb.baseSeq >>> 0, 40);
  const lag = hb.replicaLagSeconds;
  buf[44] = (hb.watchdogArmed ? UDP_FLAG_WATCHDOG_ARMED : 0) | (lag !== undefined ? UDP_FLAG_LAG : 0);
  buf.writeDoubleBE(lag ?? 0, 45);
  let o = HEADER_BYTES;
  buf[o++] = hb.checks.length;
  for (const c of hb.checks) {
    buf[o] = CHECK_STATUSES.indexOf(c.status);
    buf.writeDoubleBE(c.at, o + 1);
    buf.writeUInt32BE(Math.min(NEVER, Math.max(0, Math.round(c.durationMs))), o + 9);
    o += CHECK_BYTES;
  }
  buf.writeUInt16BE(hb.peerViews.length, o);
  o += 2;
  for (const p of hb.peerViews) {
    const hex = uuidHex(p.nodeId);
    if (!hex) throw new Error('peer nodeId must be a UUID');
    buf.write(hex, o, 16, 'hex');
    buf[o + 16] = p.reachable ? 1 : 0;
    const ago =
      p.lastSeenMsAgo === null ? NEVER : Math.min(NEVER - 1, Math.max(0, Math.round(p.lastSeenMsAgo)));
    buf.writeUInt32BE(ago, o + 17);
    o += PEER_BYTES;
  }
  sign(key, buf, o);
  return buf;
}

/** The signed parts every datagram starts with, read before the key is known. */
export interface UdpHead {
  type: number;
  /** hex of the nodeId's 16 bytes */
  nodeHex: string;
}

/** Magic, version and type, or null for anything that is not one of our datagrams. */
export function udpHead(buf: Buffer): UdpHead | null {
  if (buf.length < 40 + MAC_BYTES) return null;
  if (buf[0] !== UDP_MAGIC_0 || buf[1] !== UDP_MAGIC_1 || buf[2] !== UDP_VERSION) return null;
  const type = buf[3];
  if (type !== UDP_TYPE_HEARTBEAT && type !== UDP_TYPE_ACK) return null;
  return { type, nodeHex: buf.toString('hex', 4, 20) };
}

/**
 * Parses a heartbeat datagram whose signature was verified. Returns null when its layout is
 * inconsistent (counts that do not match its length, an unknown status): a signed but malformed
 * datagram is dropped like a forged one. `idOf` turns a node id's hex into the id (the receiver
 * passes its own strings for the nodes it knows: no new string per datagram, and map lookups keyed
 * by them reuse their cached hashes).
 */
export function decodeUdpHeartbeat(
  buf: Buffer,
  idOf: (hex: string) => string = hexToUuid,
): UdpHeartbeat | null {
  const end = buf.length - MAC_BYTES;
  if (end < HEADER_BYTES + 3) return null;
  const nChecks = buf[HEADER_BYTES];
  let o = HEADER_BYTES + 1;
  if (o + nChecks * CHECK_BYTES + 2 > end) return null;
  const checks: UdpCheck[] = [];
  for (let i = 0; i < nChecks; i++, o += CHECK_BYTES) {
    const status = CHECK_STATUSES[buf[o]];
    const at = buf.readDoubleBE(o + 1);
    if (status === undefined || !Number.isFinite(at) || at < 0) return null;
    checks.push({ status, at, durationMs: buf.readUInt32BE(o + 9) });
  }
  const nPeers = buf.readUInt16BE(o);
  o += 2;
  if (o + nPeers * PEER_BYTES !== end) return null;
  const peerViews: UdpPeerView[] = [];
  for (let i = 0; i < nPeers; i++, o += PEER_BYTES) {
    const ago = buf.readUInt32BE(o + 17);
    peerViews.push({
      nodeId: idOf(buf.toString('hex', o, o + 16)),
      reachable: buf[o + 16] === 1,
      lastSeenMsAgo: ago === NEVER ? null : ago,
    });
  }
  const flags = buf[44];
  const lag = buf.readDoubleBE(45);
  if ((flags & UDP_FLAG_LAG) !== 0 && !(Number.isFinite(lag) && lag >= 0 && lag <= 1e9)) return null;
  return {
    nodeId: idOf(buf.toString('hex', 4, 20)),
    bootKey: buf.toString('hex', 20, 36),
    seq: buf.readUInt32BE(36),
    baseSeq: buf.readUInt32BE(40),
    watchdogArmed: (flags & UDP_FLAG_WATCHDOG_ARMED) !== 0,
    ...((flags & UDP_FLAG_LAG) !== 0 && { replicaLagSeconds: lag }),
    checks,
    peerViews,
  };
}

export function encodeUdpAck(ack: UdpAck, key: KeyObject, nodeHex = uuidHex(ack.nodeId)): Buffer {
  if (!nodeHex) throw new Error('nodeId must be a UUID');
  // Written in place (latin1: one byte per char), no intermediate buffer per acknowledgement.
  const version =
    ack.assignmentVersion.length > 255 ? ack.assignmentVersion.slice(0, 255) : ack.assignmentVersion;
  const buf = Buffer.allocUnsafe(50 + version.length + MAC_BYTES);
  writeHead(buf, UDP_TYPE_ACK, nodeHex, ack.bootKey, ack.seq);
  buf[40] = ack.needFull ? UDP_ACK_FLAG_NEED_FULL : 0;
  buf.writeDoubleBE(ack.serverTime, 41);
  buf[49] = version.length;
  buf.write(version, 50, version.length, 'latin1');
  sign(key, buf, 50 + version.length);
  return buf;
}

/** Parses an acknowledgement whose signature was verified; null when inconsistent. */
export function decodeUdpAck(buf: Buffer): UdpAck | null {
  const end = buf.length - MAC_BYTES;
  if (end < 50 || buf[3] !== UDP_TYPE_ACK || 50 + buf[49] !== end) return null;
  const serverTime = buf.readDoubleBE(41);
  if (!Number.isFinite(serverTime)) return null;
  return {
    nodeId: hexToUuid(buf.toString('hex', 4, 20)),
    bootKey: buf.toString('hex', 20, 36),
    seq: buf.readUInt32BE(36),
    needFull: (buf[40] & UDP_ACK_FLAG_NEED_FULL) !== 0,
    serverTime,
    assignmentVersion: buf.toString('latin1', 50, end),
  };
}
