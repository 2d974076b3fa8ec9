import { randomUUID } from 'node:crypto';
import { HeartbeatRequest, udpBootKey, UdpHeartbeat } from '@ha/contracts';
import { AppConfig } from '../config/app-config';
import { RedisService } from '../redis/redis.service';
import { DataSource } from 'typeorm';
import { HeartbeatStore } from './heartbeat.store';

// Only the in-memory side is exercised: nothing here flushes (that needs the timers of bootstrap).
const store = () => new HeartbeatStore({} as AppConfig, {} as DataSource, { prefix: 't' } as RedisService);

const nodeId = randomUUID();
const peerId = randomUUID();
const bootId = randomUUID();
const full = (seq: number): HeartbeatRequest => ({
  nodeId,
  seq,
  bootId,
  agentTime: 1000,
  scenarios: [{ scenarioId: randomUUID(), role: 'production', epoch: 3 }],
  checks: [{ name: 'app', status: 'ok', output: 'OK', durationMs: 2, at: 500 }],
  peerViews: [{ nodeId: peerId, reachable: true, lastSeenMsAgo: 100 }],
  watchdog: { mode: 'process', armed: true },
});
const dg = (seq: number, baseSeq: number, over: Partial<UdpHeartbeat> = {}): UdpHeartbeat => ({
  nodeId,
  bootKey: udpBootKey(bootId),
  seq,
  baseSeq,
  watchdogArmed: true,
  replicaLagSeconds: 2,
  checks: [{ status: 'ok', at: 1500, durationMs: 4 }],
  peerViews: [{ nodeId: peerId, reachable: true, lastSeenMsAgo: 50 }],
  ...over,
});

describe('HeartbeatStore.acceptUdp', () => {
  it('takes liveness and deltas on top of the full report it names', () => {
    const s = store();
    s.accept(full(10), 10_000);
    const scenarios = s.get(nodeId)!.report.scenarios;
    expect(s.acceptUdp(dg(11, 10), 11_000)).toBe('accepted');
    const live = s.get(nodeId)!;
    expect(live).toMatchObject({ lastSeenAt: 11_000, seq: 11 });
    expect(live.report.seq).toBe(10);
    // The structural part is the full report's, the same array (indexes built on it stay valid).
    expect(live.report.scenarios).toBe(scenarios);
    expect(live.report.checks).toEqual([
      { name: 'app', status: 'ok', output: 'OK', durationMs: 4, at: 1500 },
    ]);
    expect(live.report.replicaLagSeconds).toBe(2);
    expect(s.observationsOf(peerId)).toEqual([
      { observerNodeId: nodeId, seenAt: 10_950, reachable: true, reportedAt: 11_000 },
    ]);
  });

  it('a replay (same boot, sequence not above the last) changes nothing', () => {
    const s = store();
    s.accept(full(10), 10_000);
    expect(s.acceptUdp(dg(12, 10), 11_000)).toBe('accepted');
    expect(s.acceptUdp(dg(12, 10, { replicaLagSeconds: 99 }), 12_000)).toBe('replay');
    expect(s.acceptUdp(dg(11, 10), 12_000)).toBe('replay');
    expect(s.get(nodeId)).toMatchObject({ lastSeenAt: 11_000, seq: 12 });
    expect(s.get(nodeId)!.report.replicaLagSeconds).toBe(2);
    // And an HTTP heartbeat older than the datagrams is not taken either.
    expect(s.accept(full(11), 12_500)).toBe(false);
  });

  it('an unknown boot (agent restarted, no HTTP heartbeat yet) is not taken at all', () => {
    const s = store();
    expect(s.acceptUdp(dg(1, 0), 1000)).toBe('unknown_boot');
    s.accept(full(10), 10_000);
    expect(s.acceptUdp(dg(50, 10, { bootKey: udpBootKey(randomUUID()) }), 11_000)).toBe('unknown_boot');
    expect(s.get(nodeId)!.lastSeenAt).toBe(10_000);
  });

  it('another base, or other checks: liveness only, and the agent is asked for a full heartbeat', () => {
    const s = store();
    s.accept(full(10), 10_000);
    expect(s.acceptUdp(dg(11, 9, { replicaLagSeconds: 50 }), 11_000)).toBe('need_full');
    expect(s.get(nodeId)).toMatchObject({ lastSeenAt: 11_000, seq: 11 });
    expect(s.get(nodeId)!.report.replicaLagSeconds).toBeUndefined();
    expect(s.acceptUdp(dg(12, 10, { checks: [] }), 12_000)).toBe('need_full');
    expect(s.get(nodeId)!.report.checks[0].at).toBe(500);
  });
});
