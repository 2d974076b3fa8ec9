/**
 * Simulated agents for the heartbeat benchmarks: N nodes registered through the API (each with its
 * own agent token) in 2-node manual scenarios, and the full heartbeat body each would send (one
 * scenario role report, one local check result, one peer view).
 */
import { randomBytes } from 'node:crypto';
import { Api } from './common';

export interface SimNode {
  id: string;
  token: string;
  bootId: string;
  seq: number;
  scenarioId: string | null;
  role: 'production' | 'replica';
  epoch: number;
  peerId: string | null;
}

export function body(n: SimNode, now: number): string {
  n.seq += 1;
  return JSON.stringify({
    nodeId: n.id,
    seq: n.seq,
    bootId: n.bootId,
    agentTime: now,
    scenarios: n.scenarioId ? [{ scenarioId: n.scenarioId, role: n.role, epoch: n.epoch }] : [],
    checks: [{ name: 'app', status: 'ok', output: 'OK - app answers in 3 ms', durationMs: 3, at: now - 5 }],
    peerViews: n.peerId ? [{ nodeId: n.peerId, lastSeenMsAgo: 180, reachable: true }] : [],
  });
}

/** Registers `count` nodes and count/2 scenarios; checks one heartbeat is answered with its assignment. */
export async function registerSimNodes(api: Api, url: string, count: number): Promise<SimNode[]> {
  const NODES = count;
  const nodes: SimNode[] = [];
  for (let i = 0; i < NODES; i += 10) {
    const batch = await Promise.all(
      Array.from({ length: Math.min(10, NODES - i) }, (_, k) => {
        const j = i + k;
        const address = `10.133.${j >> 8}.${j & 255}`;
        return api('POST', '/api/v1/nodes', {
          name: `hb-${j}`,
          address,
          agentUrl: `http://${address}:7400`,
        });
      }),
    );
    for (const r of batch) {
      nodes.push({
        id: r.node.id,
        token: r.agentToken,
        bootId: randomBytes(8).toString('hex'),
        seq: 0,
        scenarioId: null,
        role: 'replica',
        epoch: 0,
        peerId: null,
      });
    }
  }
  for (let k = 0; k + 1 < NODES; k += 20) {
    await Promise.all(
      Array.from({ length: Math.min(10, Math.floor((NODES - k) / 2)) }, async (_, m) => {
        const [p, r] = [nodes[k + 2 * m], nodes[k + 2 * m + 1]];
        const s = await api('POST', '/api/v1/scenarios', {
          name: `hb-s${(k + 2 * m) / 2}`,
          productionNodeId: p.id,
          replicaNodeIds: [r.id],
          dnsRecords: [{ zone: 'hb.test', name: `s${(k + 2 * m) / 2}.hb.test`, type: 'A', ttl: 5 }],
          failoverMode: 'manual',
          checks: [{ name: 'heartbeat', kind: 'heartbeat', intervalMs: 1000, ttlMs: 4000 }],
        });
        Object.assign(p, { scenarioId: s.id, role: 'production', epoch: s.epoch, peerId: r.id });
        Object.assign(r, { scenarioId: s.id, role: 'replica', epoch: s.epoch, peerId: p.id });
      }),
    );
  }
  // Sanity: one heartbeat answered with its scenario assignment.
  {
    const n = nodes[0];
    const r = await fetch(`${url}/api/v1/heartbeats`, {
      method: 'POST',
      headers: { authorization: `Bearer ${n.token}`, 'content-type': 'application/json' },
      body: body(n, Date.now()),
    });
    const json = (await r.json()) as { scenarios?: { scenarioId: string }[] };
    if (r.status !== 200 || json.scenarios?.[0]?.scenarioId !== n.scenarioId) {
      throw new Error(`heartbeat not accepted as expected: ${r.status} ${JSON.stringify(json)}`);
    }
  }
  return nodes;
}
