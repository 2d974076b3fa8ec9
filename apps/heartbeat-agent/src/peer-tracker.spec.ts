/**
 * Peer heartbeats go once per peer node and interval, however many scenarios the two nodes share
 * (a node carrying 1,000 scenarios with one peer sends one request, not 1,000), on a shared
 * scenario's token that works, moving on at once when the peer refuses one. Real HTTP on
 * loopback; the peer is a small server.
 */
import 'reflect-metadata';
import { randomUUID } from 'node:crypto';
import { createServer, Server } from 'node:http';
import { AddressInfo } from 'node:net';
import { ScenarioAssignment } from '@ha/contracts';
import pino from 'pino';
import { PeerTracker } from './peer-tracker';

describe('PeerTracker', () => {
  const me = randomUUID();
  const peer = randomUUID();
  const scenarios: string[] = Array.from({ length: 5 }, () => randomUUID());
  const received: { scenarioId: string; token: string; sentAt: number }[] = [];
  let server: Server;
  let url: string;

  beforeAll(async () => {
    server = createServer((req, res) => {
      let raw = '';
      req.on('data', (d) => (raw += d));
      req.on('end', () => {
        const body = JSON.parse(raw);
        const token = (req.headers.authorization ?? '').replace('Bearer ', '');
        received.push({ scenarioId: body.scenarioId, token, sentAt: body.sentAt });
        // The peer no longer has the first scenario: it refuses that token.
        if (body.scenarioId === scenarios[0]) {
          res.writeHead(401).end('{}');
          return;
        }
        res.writeHead(200, { 'content-type': 'application/json' }).end(
          JSON.stringify({
            fromNodeId: peer,
            scenarioId: body.scenarioId,
            role: 'replica',
            epoch: 1,
            sentAt: Date.now(),
          }),
        );
      });
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(async () => {
    await new Promise((r) => server.close(r));
  });

  it('one request per peer node and round, on a token that works, skipping a refused one at once', async () => {
    const assignments: ScenarioAssignment[] = scenarios.map((scenarioId, i) => ({
      scenarioId,
      name: `s${i}`,
      epoch: 1,
      role: 'production',
      productionNodeId: me,
      activeNodeId: me,
      leaseMs: 10_000,
      peers: [
        { nodeId: me, name: 'me', agentUrl: 'http://127.0.0.1:1' },
        { nodeId: peer, name: 'peer', agentUrl: url },
      ],
      peerToken: `token-${i}`,
    }));
    const tracker = new PeerTracker({
      nodeId: me,
      intervalMs: 200,
      peerTimeoutMs: 600,
      now: () => performance.now(),
      // this agent's clock is 10 minutes slow; it has measured that against the orchestrators
      clusterTime: () => Date.now() + 600_000,
      assignments: () => assignments,
      ownRole: () => ({ role: 'production', epoch: 1 }),
      logger: pino({ level: 'silent' }),
    });
    tracker.start();
    await new Promise((r) => setTimeout(r, 1100));
    tracker.stop();
    await new Promise((r) => setTimeout(r, 100));
    // About 6 rounds: one request each, plus one more in the round that hit the refused scenario.
    // (One per shared scenario would be 30.)
    expect(received.length).toBeGreaterThanOrEqual(4);
    expect(received.length).toBeLessThanOrEqual(9);
    // Each request carries the token of the scenario it names.
    for (const r of received) expect(r.token).toBe(`token-${scenarios.indexOf(r.scenarioId)}`);
    // The refused first scenario is followed at once by the next one, which is kept while it works.
    expect(received[0].scenarioId).toBe(scenarios[0]);
    expect(received.slice(1).map((r) => r.scenarioId)).toEqual(received.slice(1).map(() => scenarios[1]));
    expect(tracker.lastContact([peer])).toBeDefined();
    expect(tracker.views([peer])[0]).toMatchObject({ nodeId: peer, reachable: true });
    // sentAt is in the orchestrators' time (the peer counts a heartbeat when it reads it; sentAt is for its logs).
    for (const r of received) expect(Math.abs(r.sentAt - (Date.now() + 600_000))).toBeLessThan(5000);
  });

  it('renews the lease only through our heartbeats a peer answered, not through heartbeats we read', () => {
    const tracker = new PeerTracker({
      nodeId: me,
      intervalMs: 200,
      peerTimeoutMs: 600,
      now: () => 10_000,
      assignments: () => [],
      ownRole: () => ({ role: 'production', epoch: 1 }),
      logger: pino({ level: 'silent' }),
    });
    const other = randomUUID();
    // Its heartbeat to us: a sign of life we report, but nothing tells the orchestrators we read
    // it, so it must not push our lease (or our watchdog's deadline) forward.
    tracker.heard(other, 9_900);
    expect(tracker.views([other])[0]).toMatchObject({ lastSeenMsAgo: 100, reachable: true });
    expect(tracker.lastContact([other])).toBeUndefined();
    expect(tracker.lastPeerContact([{ nodeId: other }])).toBeUndefined();
    // Its answer to ours, sent at 9,500: the peer read it after that and reports it.
    tracker.answered(other, 9_500, { scenarioId: scenarios[0], role: 'replica', epoch: 1, receivedAt: 0 });
    expect(tracker.lastContact([other])).toBe(9_500);
    expect(tracker.lastPeerContact([{ nodeId: other }])).toBe(9_500);
    // The view keeps the newest sign of life.
    expect(tracker.views([other])[0].lastSeenMsAgo).toBe(100);
  });

  it('lastPeerContact: the latest of the peers, never this node itself', () => {
    const other = randomUUID();
    const tracker = new PeerTracker({
      nodeId: me,
      intervalMs: 1000,
      peerTimeoutMs: 3000,
      now: () => 0,
      assignments: () => [],
      ownRole: () => ({ role: 'production', epoch: 1 }),
      logger: pino({ level: 'silent' }),
    });
    const report = { scenarioId: scenarios[0], role: 'replica', epoch: 1, receivedAt: 0 };
    expect(tracker.lastPeerContact([{ nodeId: me }, { nodeId: peer }])).toBeUndefined();
    // An answer claiming to come from this node (a misconfigured peer URL) is no contact.
    tracker.answered(me, 500, report);
    expect(tracker.lastPeerContact([{ nodeId: me }, { nodeId: peer }])).toBeUndefined();
    tracker.answered(peer, 100, report);
    tracker.answered(other, 300, report);
    expect(tracker.lastPeerContact([{ nodeId: me }, { nodeId: peer }])).toBe(100);
    expect(tracker.lastPeerContact([{ nodeId: peer }, { nodeId: other }])).toBe(300);
    expect(tracker.lastPeerContact([])).toBeUndefined();
  });
});
