/**
 * UDP heartbeats end to end: real agents with `udpHeartbeats: true` against an orchestrator taking
 * them on HEARTBEAT_UDP_PORT. The agents move to UDP after their first HTTP answer, stay healthy on
 * it, fall back to HTTP when datagrams go unanswered, and a dead production still fails over.
 * Hostile datagrams (garbage, forged, replayed, unknown node or boot, signed nonsense) are dropped
 * and counted, and change nothing.
 * Real agents on 127.0.0.151-152 (port 17150), DNS on 15150, UDP heartbeats on 127.0.0.1:18150.
 */
import dgram from 'node:dgram';
import { randomUUID } from 'node:crypto';
import { encodeUdpHeartbeat, udpBootKey, udpHeartbeatKey } from '@ha/contracts';
import { HeartbeatUdpServer } from '../../apps/orchestrator/src/heartbeats/heartbeat-udp.server';
import { Cluster } from '../support/cluster';
import { http, waitFor } from '../support/orchestrator';
import { health, waitHealth, watchVerdicts } from './detection-helpers';

const INTERVAL = 300;
const UDP_PORT = 18150;

jest.setTimeout(90_000);

async function udpCounts(c: Cluster): Promise<Record<string, number>> {
  const text = String((await http<string>(c.o.url, 'GET', '/metrics')).body);
  const out: Record<string, number> = {};
  for (const m of text.matchAll(/^ha_heartbeat_udp_datagrams_total\{result="(\w+)"\} (\d+)/gm))
    out[m[1]] = Number(m[2]);
  return out;
}

function sendDatagram(buf: Buffer): Promise<void> {
  const socket = dgram.createSocket('udp4');
  return new Promise((resolve, reject) =>
    socket.send(buf, UDP_PORT, '127.0.0.1', (err) => {
      socket.close();
      if (err) reject(err);
      else resolve();
    }),
  );
}

describe('UDP heartbeats', () => {
  const c = new Cluster({
    label: 'udphb',
    addressPrefix: '127.0.0.15',
    agentPort: 17150,
    dnsPort: 15150,
    heartbeatIntervalMs: INTERVAL,
    checks: [{ name: 'heartbeat', kind: 'heartbeat', intervalMs: INTERVAL, ttlMs: 6 * INTERVAL }],
    policy: { leaseMs: 20 * INTERVAL, recoveryHoldMs: 500 },
    orchestratorEnv: { HEARTBEAT_UDP_PORT: String(UDP_PORT), HEARTBEAT_UDP_HOST: '127.0.0.1' },
    agentExtra: () => ({ udpHeartbeats: true, udpFullEveryMs: 3000 }),
  });

  beforeAll(async () => {
    await c.start();
  });
  afterAll(async () => {
    await c.close();
  });

  const transport = async (n = c.production) => (await c.agentStatus(n)).orchestrators[0].transport;

  it('agents move to UDP after their first HTTP answer and stay healthy on it', async () => {
    for (const n of c.nodes) await waitFor(`${n.name} on UDP`, async () => (await transport(n)) === 'udp');
    const before = await udpCounts(c);
    // Healthy the whole time, with full HTTP heartbeats only every udpFullEveryMs in between.
    expect(await watchVerdicts(c, c.production, 10 * INTERVAL)).toEqual(['healthy']);
    const after = await udpCounts(c);
    expect((after.accepted ?? 0) - (before.accepted ?? 0)).toBeGreaterThanOrEqual(2 * 8);
    expect(after.forged ?? 0).toBe(0);
    const st = await c.agentStatus(c.production);
    expect(st.lastOrchestratorContactMsAgo).toBeLessThan(3 * INTERVAL);
    const h = await health(c, c.production);
    expect(h.evidence?.observers).toEqual([
      expect.objectContaining({ observer: 'replica1', reachable: true, fresh: true }),
    ]);
  });

  it('hostile datagrams are dropped and counted; the node stays healthy and its own datagrams still count', async () => {
    const before = await udpCounts(c);
    const hb = (await health(c, c.production)).heartbeat!;
    const node = c.production;
    const goodKey = udpHeartbeatKey(node.agentToken, node.id);
    const dg = (over: Partial<Parameters<typeof encodeUdpHeartbeat>[0]> = {}, key = goodKey) =>
      encodeUdpHeartbeat(
        {
          nodeId: node.id,
          bootKey: udpBootKey(hb.bootId),
          seq: hb.seq + 1_000_000,
          baseSeq: 0,
          watchdogArmed: false,
          checks: [],
          peerViews: [],
          ...over,
        },
        key,
      );
    await sendDatagram(Buffer.from('not a heartbeat at all'));
    await sendDatagram(Buffer.alloc(2000, 0x48));
    // Signed with another token's key: a forgery, whatever it claims.
    await sendDatagram(dg({}, udpHeartbeatKey('someone-elses-token-0123456789', node.id)));
    // A node nobody authenticated over HTTP.
    await sendDatagram(dg({ nodeId: randomUUID() }, udpHeartbeatKey(node.agentToken, randomUUID())));
    // Correctly signed, but an old sequence number: a replay.
    await sendDatagram(dg({ seq: 1 }));
    // Correctly signed, for a boot this orchestrator never saw over HTTP.
    await sendDatagram(dg({ bootKey: udpBootKey(randomUUID()) }));
    // Correctly signed, bytes inconsistent with its counts (the peer count claims more than is there).
    const bad = dg();
    const tampered = Buffer.from(bad);
    tampered.writeUInt16BE(9, 54);
    const { createHmac } = await import('node:crypto');
    createHmac('sha256', goodKey)
      .update(tampered.subarray(0, tampered.length - 32))
      .digest()
      .copy(tampered, tampered.length - 32);
    await sendDatagram(tampered);

    const after = await waitFor('counted', async () => {
      const now = await udpCounts(c);
      const d = (k: string) => (now[k] ?? 0) - (before[k] ?? 0);
      return d('malformed') >= 3 &&
        d('forged') >= 1 &&
        d('unknown_key') >= 1 &&
        d('replay') >= 1 &&
        d('unknown_boot') >= 1
        ? now
        : null;
    });
    expect((after.forged ?? 0) - (before.forged ?? 0)).toBe(1);
    // None of them moved the node's sequence number: its own next datagrams are still taken.
    const acceptedThen = after.accepted ?? 0;
    await waitFor(
      'own datagrams accepted after the attack',
      async () => ((await udpCounts(c)).accepted ?? 0) > acceptedThen + 3,
    );
    expect((await health(c, c.production)).verdict).toBe('healthy');
    expect((await health(c, c.production)).heartbeat!.seq).toBeLessThan(hb.seq + 1000);
  });

  it('datagrams that go unanswered: the agent falls back to HTTP and keeps its contact, then returns to UDP', async () => {
    const server = c.o.app.get(HeartbeatUdpServer);
    const original = server.onMessage.bind(server);
    // Every datagram is lost on the way in (as behind a firewall dropping UDP).
    server.onMessage = () => undefined;
    try {
      await waitFor('production back on HTTP', async () => (await transport()) === 'http', 10_000);
      expect(await watchVerdicts(c, c.production, 8 * INTERVAL)).toEqual(['healthy']);
      expect((await c.agentStatus(c.production)).lastOrchestratorContactMsAgo).toBeLessThan(3 * INTERVAL);
    } finally {
      server.onMessage = original;
    }
    // UDP is tried again after 3 × udpFullEveryMs.
    await waitFor('production on UDP again', async () => (await transport()) === 'udp', 20_000);
    expect((await health(c, c.production)).verdict).toBe('healthy');
  });

  it('kill -9 of the production agent still fails over, DNS to the replica', async () => {
    await c.production.agent!.kill();
    await waitHealth(c, c.production, 'failed', (h) => h.verdict === 'failed', 20_000);
    await c.waitState('failed_over', 30_000);
    await c.waitDns(c.replica.address);
  });
});
