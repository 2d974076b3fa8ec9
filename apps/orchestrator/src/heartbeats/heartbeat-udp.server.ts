/**
 * UDP heartbeats (wire format and key scheme: libs/contracts/src/udp-heartbeat.ts). A datagram is
 * looked up by its node id, verified against the key this instance learnt from the node's HTTP
 * heartbeats, parsed, applied to the in-memory heartbeat state and acknowledged with a signed
 * datagram. Anything else (not ours, unknown node or key, bad signature, replay, inconsistent
 * layout) is dropped and counted in ha_heartbeat_udp_datagrams_total{result}; nothing on this
 * path throws, and nothing is written to PostgreSQL or Redis per datagram.
 */
import dgram from 'node:dgram';
import { KeyObject } from 'node:crypto';
import { Injectable, OnApplicationBootstrap, OnApplicationShutdown } from '@nestjs/common';
import {
  decodeUdpHeartbeat,
  encodeUdpAck,
  hexToUuid,
  udpHead,
  udpHeartbeatKey,
  UDP_TYPE_HEARTBEAT,
  udpVerify,
  uuidHex,
} from '@ha/contracts';
import { createLogger } from '../common/logger';
import { AppConfig } from '../config/app-config';
import { MetricsService } from '../metrics/metrics.service';
import { UdpOutcome } from './heartbeat.store';
import { HeartbeatsService } from './heartbeats.service';

type UdpResult = UdpOutcome | 'unknown_key' | 'forged' | 'malformed';

const log = createLogger('HeartbeatUdpServer');

/**
 * A key learnt from an HTTP heartbeat is good for this long after the last one (agents send one at
 * least every udpFullEveryMs, at most 60 s): a revoked agent token stops UDP heartbeats within it.
 */
export const UDP_KEY_TTL_MS = 180_000;

/** An acknowledgement that could not be sent is one the agent will miss: it falls back to HTTP. */
function ignoreSendError(): void {}

interface NodeKey {
  /** the node id as its HTTP heartbeats spell it (the heartbeat state is keyed by it) */
  nodeId: string;
  /** the agent token it was derived from (memory only, never logged or stored) */
  token: string;
  key: KeyObject;
  until: number;
}

@Injectable()
export class HeartbeatUdpServer implements OnApplicationBootstrap, OnApplicationShutdown {
  private socket: dgram.Socket | null = null;
  /** by the node id's hex (what datagrams carry) */
  private readonly keys = new Map<string, NodeKey>();
  /** a datagram's node or peer id (hex) → the id string the heartbeat state already holds */
  private readonly idOf = (hex: string): string => this.keys.get(hex)?.nodeId ?? hexToUuid(hex);
  /** datagrams by result since metrics were last read (see MetricsService.onCollect) */
  private readonly counted: Record<UdpResult, number> = {
    accepted: 0,
    need_full: 0,
    replay: 0,
    unknown_boot: 0,
    unknown_key: 0,
    forged: 0,
    malformed: 0,
  };

  constructor(
    private readonly config: AppConfig,
    private readonly heartbeats: HeartbeatsService,
    metrics: MetricsService,
  ) {
    metrics.onCollect(() => {
      for (const result of Object.keys(this.counted) as UdpResult[]) {
        if (this.counted[result] === 0) continue;
        metrics.udpDatagrams.inc({ result }, this.counted[result]);
        this.counted[result] = 0;
      }
    });
  }

  get enabled(): boolean {
    return this.config.HEARTBEAT_UDP_PORT > 0 && this.config.roles.has('api');
  }

  async onApplicationBootstrap(): Promise<void> {
    if (!this.enabled) return;
    const socket = dgram.createSocket({
      type: 'udp4',
      recvBufferSize: 4 * 1024 * 1024,
      // Acknowledgements go to the sender's address as received, always an IP: no resolver round.
      lookup: (address, _family, callback) =>
        (callback as (e: null, a: string, f: number) => void)(null, address, 4),
    });
    socket.on('message', (msg, rinfo) => this.onMessage(msg, rinfo.port, rinfo.address));
    socket.on('error', (err) => log.error({ err: err.message }, 'UDP heartbeat socket error'));
    const host = this.config.HEARTBEAT_UDP_HOST || this.config.HTTP_HOST;
    await new Promise<void>((resolve, reject) => {
      socket.once('error', reject);
      socket.bind(this.config.HEARTBEAT_UDP_PORT, host, () => {
        socket.off('error', reject);
        resolve();
      });
    });
    this.socket = socket;
    this.heartbeats.udpPort = socket.address().port;
    log.info({ host, port: this.heartbeats.udpPort }, 'UDP heartbeats listening');
  }

  onApplicationShutdown(): void {
    this.heartbeats.udpPort = undefined;
    this.socket?.close();
    this.socket = null;
  }

  /** An HTTP heartbeat authenticated `token` for `nodeId`: its datagrams verify with the derived key. */
  learnKey(nodeId: string, token: string, now = Date.now()): void {
    if (!this.socket) return;
    const hex = uuidHex(nodeId);
    if (!hex) return;
    const known = this.keys.get(hex);
    if (known && known.token === token) {
      known.until = now + UDP_KEY_TTL_MS;
      return;
    }
    this.keys.set(hex, { nodeId, token, key: udpHeartbeatKey(token, nodeId), until: now + UDP_KEY_TTL_MS });
  }

  /** Public for the benchmark and tests: one datagram in, maybe one acknowledgement out. */
  onMessage(msg: Buffer, port: number, address: string, now = Date.now()): void {
    const head = udpHead(msg);
    if (!head || head.type !== UDP_TYPE_HEARTBEAT) return void this.counted.malformed++;
    const key = this.keys.get(head.nodeHex);
    if (!key || key.until < now) return void this.counted.unknown_key++;
    if (!udpVerify(key.key, msg)) return void this.counted.forged++;
    const hb = decodeUdpHeartbeat(msg, this.idOf);
    if (!hb) return void this.counted.malformed++;
    const outcome = this.heartbeats.receiveUdp(hb, now);
    this.counted[outcome]++;
    // A replay gets no answer: an acknowledgement would tell a replayer nothing new, the agent
    // nothing either (it has had the answer to that sequence number, or given up on it).
    if (outcome === 'replay' || !this.socket) return;
    const ack = encodeUdpAck(
      {
        nodeId: hb.nodeId,
        bootKey: hb.bootKey,
        seq: hb.seq,
        needFull: outcome !== 'accepted',
        serverTime: Date.now(),
        assignmentVersion: this.heartbeats.assignmentVersionOf(hb.nodeId),
      },
      key.key,
      head.nodeHex,
    );
    this.socket.send(ack, port, address, ignoreSendError);
  }
}
