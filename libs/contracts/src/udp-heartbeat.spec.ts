import { randomUUID } from 'node:crypto';
import {
  decodeUdpAck,
  decodeUdpHeartbeat,
  encodeUdpAck,
  encodeUdpHeartbeat,
  udpBootKey,
  udpHead,
  UdpHeartbeat,
  udpHeartbeatKey,
  udpHeartbeatSize,
  UDP_MAX_DATAGRAM,
  UDP_TYPE_ACK,
  UDP_TYPE_HEARTBEAT,
  udpVerify,
} from './udp-heartbeat';

const nodeId = randomUUID();
const key = udpHeartbeatKey('agent-token-0123456789', nodeId);
const hb = (over: Partial<UdpHeartbeat> = {}): UdpHeartbeat => ({
  nodeId,
  bootKey: udpBootKey(randomUUID()),
  seq: 42,
  baseSeq: 40,
  watchdogArmed: true,
  replicaLagSeconds: 1.5,
  checks: [
    { status: 'ok', at: 1_765_000_000_123, durationMs: 3 },
    { status: 'critical', at: 1_765_000_000_456, durationMs: 5000 },
  ],
  peerViews: [
    { nodeId: randomUUID(), reachable: true, lastSeenMsAgo: 180 },
    { nodeId: randomUUID(), reachable: false, lastSeenMsAgo: null },
  ],
  ...over,
});

describe('UDP heartbeat wire format', () => {
  it('round-trips a heartbeat, signed', () => {
    const h = hb();
    const buf = encodeUdpHeartbeat(h, key);
    expect(buf.length).toBe(udpHeartbeatSize(2, 2));
    expect(udpHead(buf)).toEqual({ type: UDP_TYPE_HEARTBEAT, nodeHex: nodeId.replace(/-/g, '') });
    expect(udpVerify(key, buf)).toBe(true);
    expect(decodeUdpHeartbeat(buf)).toEqual(h);
  });

  it('leaves out a lag that is absent', () => {
    const h = hb({ replicaLagSeconds: undefined, watchdogArmed: false });
    delete h.replicaLagSeconds;
    expect(decodeUdpHeartbeat(encodeUdpHeartbeat(h, key))).toEqual(h);
  });

  it('any changed byte, or another key, fails verification', () => {
    const buf = encodeUdpHeartbeat(hb(), key);
    for (const i of [0, 5, 37, 60, buf.length - 1]) {
      const bad = Buffer.from(buf);
      bad[i] ^= 1;
      expect(udpVerify(key, bad)).toBe(false);
    }
    expect(udpVerify(udpHeartbeatKey('another-token-0123456789', nodeId), buf)).toBe(false);
    // The key is per node as well as per token.
    expect(udpVerify(udpHeartbeatKey('agent-token-0123456789', randomUUID()), buf)).toBe(false);
    expect(udpVerify(key, buf.subarray(0, 10))).toBe(false);
  });

  it('refuses what is not ours before any key is looked up', () => {
    expect(udpHead(Buffer.from('GET / HTTP/1.1\r\n\r\n'))).toBeNull();
    const buf = encodeUdpHeartbeat(hb(), key);
    const wrongVersion = Buffer.from(buf);
    wrongVersion[2] = 9;
    expect(udpHead(wrongVersion)).toBeNull();
    const wrongType = Buffer.from(buf);
    wrongType[3] = 7;
    expect(udpHead(wrongType)).toBeNull();
  });

  it('a signed datagram whose counts do not match its length decodes to null', () => {
    const buf = encodeUdpHeartbeat(hb(), key);
    const moreChecks = Buffer.from(buf);
    moreChecks[53] = 200;
    expect(decodeUdpHeartbeat(moreChecks)).toBeNull();
    const badStatus = Buffer.from(buf);
    badStatus[54] = 9;
    expect(decodeUdpHeartbeat(badStatus)).toBeNull();
    const truncated = Buffer.concat([buf.subarray(0, 60), buf.subarray(buf.length - 32)]);
    expect(decodeUdpHeartbeat(truncated)).toBeNull();
  });

  it('refuses to build a datagram that would be fragmented', () => {
    const peers = Array.from({ length: 80 }, () => ({
      nodeId: randomUUID(),
      reachable: true,
      lastSeenMsAgo: 1,
    }));
    expect(udpHeartbeatSize(0, 80)).toBeGreaterThan(UDP_MAX_DATAGRAM);
    expect(() => encodeUdpHeartbeat(hb({ peerViews: peers }), key)).toThrow(/above/);
  });

  it('round-trips an acknowledgement', () => {
    const ack = {
      nodeId,
      bootKey: udpBootKey('boot-1'),
      seq: 7,
      needFull: true,
      serverTime: 1_765_000_000_999,
      assignmentVersion: 'abcDEF_-0123456789abcdef01234567',
    };
    const buf = encodeUdpAck(ack, key);
    expect(udpHead(buf)?.type).toBe(UDP_TYPE_ACK);
    expect(udpVerify(key, buf)).toBe(true);
    expect(decodeUdpAck(buf)).toEqual(ack);
    expect(decodeUdpHeartbeat(buf)).toBeNull();
  });

  it('boot keys: a UUID is its own bytes, anything else hashes to 16 bytes', () => {
    const id = randomUUID();
    expect(udpBootKey(id)).toBe(id.replace(/-/g, ''));
    expect(udpBootKey('0123456789abcdef')).toMatch(/^[0-9a-f]{32}$/);
    expect(udpBootKey('a')).not.toBe(udpBootKey('b'));
  });
});
