/**
 * Self-fencing and self-demotion with real agent processes: a production and a replica exchanging
 * peer heartbeats, a fake orchestrator that can go away, and an old production coming back after a
 * failover. Addresses 127.0.0.103-105, ports 17121-17124.
 */
import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ActionResponse, PeerView, ScenarioAssignment } from '@ha/contracts';
import {
  AgentFleet,
  AgentProcess,
  FakeOrchestrator,
  ensureAgentBuilt,
  getJson,
  postJson,
  sleep,
  waitFor,
  writeScript,
} from '@ha/testing/agent-harness';

const INTERVAL = 200;
const PEER_TIMEOUT = 600;
const LEASE = 1500;
const ORCHESTRATOR = { host: '127.0.0.103', port: 17123 };
const A = { id: randomUUID(), name: 'prod-a', host: '127.0.0.103', port: 17121 };
const B = { id: randomUUID(), name: 'replica-b', host: '127.0.0.104', port: 17122 };
const C = { id: randomUUID(), name: 'old-prod-c', host: '127.0.0.105', port: 17124 };
const SCENARIO_ID = randomUUID();
const SCENARIO_C = randomUUID();
const PEER_TOKEN = `peer-token-${randomUUID()}`;
const ACTION_TOKEN = `action-token-${randomUUID()}`;
const url = (n: { host: string; port: number }) => `http://${n.host}:${n.port}`;

interface Status {
  lastOrchestratorContactMsAgo: number | null;
  scenarios: Array<{ scenarioId: string; role: string; epoch: number; peerViews: PeerView[] }>;
  recentSteps: ActionResponse[];
}

// testTimeout in jest.config.js is per project and jest only honours it globally: set it here.
jest.setTimeout(30_000);

describe('heartbeat agent: self-fencing lease and self-demotion (real processes)', () => {
  const fleet = new AgentFleet();
  const orchestrator = new FakeOrchestrator(ORCHESTRATOR.host, ORCHESTRATOR.port);
  let dir: string;
  const configs: Record<string, Record<string, unknown>> = {};
  let agentA: AgentProcess;
  let agentB: AgentProcess;

  /** demote.sh appends one line per run to <node>.demote.log. */
  const demotions = (node: { name: string }): string[] => {
    try {
      return readFileSync(join(dir, `${node.name}.demote.log`), 'utf8')
        .split('\n')
        .filter(Boolean);
    } catch {
      return [];
    }
  };
  const status = async (node: { host: string; port: number }): Promise<Status> =>
    (await getJson<Status>(`${url(node)}/status`, ACTION_TOKEN)).body;
  const scenarioOf = async (node: typeof A, scenarioId = SCENARIO_ID) =>
    (await status(node)).scenarios.find((s) => s.scenarioId === scenarioId);
  const act = (node: typeof A, action: string, scenarioId: string, epoch: number, stepId: string) =>
    postJson<ActionResponse & { currentEpoch?: number }>(
      `${url(node)}/actions/${action}`,
      { operationId: randomUUID(), stepId, scenarioId, epoch, deadline: Date.now() + 30_000 },
      { token: ACTION_TOKEN },
    );
  const assignment = (
    self: typeof A,
    peer: typeof A | undefined,
    patch: Partial<ScenarioAssignment> = {},
  ): ScenarioAssignment => ({
    scenarioId: SCENARIO_ID,
    name: 'orders-db',
    epoch: 1,
    role: self === A ? 'production' : 'replica',
    productionNodeId: A.id,
    activeNodeId: A.id,
    leaseMs: LEASE,
    peers: peer ? [{ nodeId: peer.id, name: peer.name, agentUrl: url(peer) }] : [],
    peerToken: PEER_TOKEN,
    ...patch,
  });
  const spawn = (node: typeof A) => fleet.spawn({ dir, name: node.name, config: configs[node.name] });
  /** A sees B reachable (from its own status). */
  const peerReachable = async (from: typeof A, to: typeof A) =>
    (await scenarioOf(from))?.peerViews.find((v) => v.nodeId === to.id)?.reachable === true;

  beforeAll(async () => {
    ensureAgentBuilt();
    dir = await mkdtemp(join(tmpdir(), 'agent-fencing-'));
    for (const node of [A, B, C]) {
      const record = `echo "$HA_ACTION step=$HA_STEP_ID epoch=$HA_EPOCH" >> ${join(dir, `${node.name}.demote.log`)}`;
      const ok = (name: string) => ({ command: writeScript(dir, `${node.name}.${name}.sh`, 'exit 0') });
      configs[node.name] = {
        nodeId: node.id,
        nodeName: node.name,
        orchestrators: [orchestrator.url],
        token: `agent-token-${randomUUID()}`,
        actionToken: ACTION_TOKEN,
        listen: { host: node.host, port: node.port },
        heartbeatIntervalMs: INTERVAL,
        peerTimeoutMs: PEER_TIMEOUT,
        stateFile: join(dir, `${node.name}.state.json`),
        actions: {
          promote: ok('promote'),
          resync: ok('resync'),
          demote: { command: writeScript(dir, `${node.name}.demote.sh`, record) },
        },
      };
    }
    orchestrator.assignments = (nodeId) => {
      if (nodeId === A.id) return [assignment(A, B)];
      if (nodeId === B.id) return [assignment(B, A)];
      return [];
    };
    await orchestrator.start();
    [agentA, agentB] = await Promise.all([spawn(A), spawn(B)]);
    // Scenario start: the orchestrator makes A production and B a replica.
    expect((await act(A, 'promote', SCENARIO_ID, 1, 'start-promote')).body.status).toBe('ok');
    expect((await act(B, 'resync', SCENARIO_ID, 1, 'start-resync')).body.status).toBe('ok');
  });

  afterAll(async () => {
    await fleet.stopAll();
    await orchestrator.stop();
    await rm(dir, { recursive: true, force: true });
  });

  it('production and replica exchange peer heartbeats and report each other reachable', async () => {
    await waitFor(async () => (await peerReachable(A, B)) && (await peerReachable(B, A)), {
      what: 'peers reachable',
    });
    const h = await orchestrator.waitForHeartbeat(
      (x) => x.body.nodeId === B.id && x.body.peerViews.some((v) => v.nodeId === A.id && v.reachable),
    );
    expect(h.invalid).toBeUndefined();
    expect(h.body.peerViews[0].lastSeenMsAgo).toBeLessThanOrEqual(PEER_TIMEOUT);
    expect(h.body.scenarios).toEqual([{ scenarioId: SCENARIO_ID, role: 'replica', epoch: 1 }]);
  });

  it('refuses peer heartbeats with a wrong token or from a node outside the scenario', async () => {
    const hb = (fromNodeId: string) => ({
      fromNodeId,
      scenarioId: SCENARIO_ID,
      role: 'replica',
      epoch: 1,
      sentAt: Date.now(),
    });
    const peerUrl = `${url(A)}/peer/heartbeat`;
    expect((await postJson(peerUrl, hb(B.id), { token: 'wrong-token' })).status).toBe(401);
    expect((await postJson(peerUrl, hb(B.id))).status).toBe(401);
    expect(
      (await postJson(peerUrl, { ...hb(B.id), scenarioId: randomUUID() }, { token: PEER_TOKEN })).status,
    ).toBe(401);
    expect((await postJson(peerUrl, hb(C.id), { token: PEER_TOKEN })).status).toBe(403);
    expect((await postJson(peerUrl, { ...hb(B.id), extra: 1 }, { token: PEER_TOKEN })).status).toBe(400);
    const ok = await postJson<{ fromNodeId: string; role: string }>(peerUrl, hb(B.id), { token: PEER_TOKEN });
    expect(ok.status).toBe(200);
    expect(ok.body).toMatchObject({ fromNodeId: A.id, role: 'production', epoch: 1 });
  });

  it('losing only the peers never demotes production', async () => {
    await agentB.kill();
    await sleep(3 * LEASE);
    expect((await scenarioOf(A))?.role).toBe('production');
    expect(await peerReachable(A, B)).toBe(false);
    expect(demotions(A)).toEqual([]);

    agentB = await spawn(B);
    await waitFor(() => peerReachable(A, B), { what: 'B reachable again' });
  });

  it('losing only the orchestrators never demotes production while a peer is reachable', async () => {
    await orchestrator.stop();
    await sleep(3 * LEASE);
    const s = await status(A);
    expect(s.lastOrchestratorContactMsAgo).toBeGreaterThan(2 * LEASE);
    expect(s.scenarios[0]).toMatchObject({ role: 'production', epoch: 1 });
    expect(await peerReachable(A, B)).toBe(true);
    expect(demotions(A)).toEqual([]);
  });

  it('cut off from every orchestrator and every peer for the lease, production demotes itself once', async () => {
    expect(await peerReachable(A, B)).toBe(true);
    const killedAt = Date.now();
    await agentB.kill();
    await sleep(LEASE / 2);
    expect(demotions(A)).toEqual([]);

    await waitFor(() => demotions(A).length > 0, { timeoutMs: LEASE + 3000, what: 'A to self-fence' });
    const elapsed = Date.now() - killedAt;
    // B was reachable (heard within PEER_TIMEOUT) just before the kill; the lease runs from that contact.
    expect(elapsed).toBeGreaterThanOrEqual(LEASE - PEER_TIMEOUT);
    expect(demotions(A)).toEqual([expect.stringMatching(/^demote step=self-fence-1-\d+ epoch=1$/)]);

    const s = await waitFor(async () => ((await scenarioOf(A))?.role === 'demoted' ? status(A) : undefined));
    expect(s.scenarios[0]).toMatchObject({ role: 'demoted', epoch: 1 });
    expect(s.recentSteps.at(-1)).toMatchObject({ action: 'demote', status: 'ok' });
    expect(agentA.logs().find((l) => l.event === 'lease.self_fence')).toMatchObject({
      level: 'fatal',
      scenarioId: SCENARIO_ID,
    });

    // Demoted is not production: the lease never fires again.
    await sleep(LEASE);
    expect(demotions(A)).toHaveLength(1);
  });

  it('an old production that comes back after a failover demotes itself and stays demoted', async () => {
    const epoch1: ScenarioAssignment = {
      ...assignment(A, undefined),
      scenarioId: SCENARIO_C,
      productionNodeId: C.id,
      activeNodeId: C.id,
    };
    let current = epoch1;
    orchestrator.assignments = (nodeId) => (nodeId === C.id ? [current] : []);
    await orchestrator.start();
    const agentC = await spawn(C);
    expect((await act(C, 'promote', SCENARIO_C, 1, 'c-promote')).body.status).toBe('ok');
    await orchestrator.waitForHeartbeat(
      (x) => x.body.nodeId === C.id && x.body.scenarios.some((s) => s.role === 'production'),
    );

    // Meanwhile a failover moved production elsewhere at epoch 2.
    const elsewhere = randomUUID();
    current = { ...epoch1, epoch: 2, role: 'replica', productionNodeId: elsewhere, activeNodeId: elsewhere };
    await waitFor(() => demotions(C).length > 0, { what: 'C to self-demote' });
    expect(demotions(C)).toEqual(['demote step=self-demote-2 epoch=2']);
    await orchestrator.waitForHeartbeat(
      (x) => x.body.nodeId === C.id && x.body.scenarios.some((s) => s.role === 'demoted' && s.epoch === 2),
    );
    expect(agentC.logs().some((l) => l.event === 'scenario.self_demote')).toBe(true);

    // The orchestrator keeps saying 'replica': C stays demoted until an explicit action.
    await sleep(5 * INTERVAL);
    expect((await scenarioOf(C, SCENARIO_C))?.role).toBe('demoted');
    expect(demotions(C)).toHaveLength(1);
    const stale = await act(C, 'promote', SCENARIO_C, 1, 'c-stale-promote');
    expect(stale.status).toBe(409);
    expect(stale.body.currentEpoch).toBe(2);
    expect((await act(C, 'resync', SCENARIO_C, 2, 'c-resync')).body.status).toBe('ok');
    expect((await scenarioOf(C, SCENARIO_C))?.role).toBe('replica');
  });
});
