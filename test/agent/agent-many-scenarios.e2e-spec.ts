/**
 * One node carrying 1,000 scenarios (a host protected service by service): the agent takes the
 * whole assignment and reports a role for every scenario in one heartbeat, which stays
 * contract-valid. It used to stop at 256 and refuse every answer beyond ("scenarios must contain no
 * more than 256 elements"), freezing its view. Address 127.0.0.107, ports 17113-17114.
 */
import { randomUUID } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ScenarioAssignment } from '@ha/contracts';
import { AgentFleet, FakeOrchestrator, ensureAgentBuilt, getJson, waitFor } from '@ha/testing/agent-harness';

const HOST = '127.0.0.107';
const NODE_ID = randomUUID();
const PEER_ID = randomUUID();
const ACTION_TOKEN = `action-token-${randomUUID()}`;
const COUNT = 1000;

jest.setTimeout(60_000);

describe('an agent carrying 1,000 scenarios', () => {
  const fleet = new AgentFleet();
  const orchestrator = new FakeOrchestrator(HOST, 17114);
  let dir: string;
  const scenarios: ScenarioAssignment[] = Array.from({ length: COUNT }, (_, i) => ({
    scenarioId: randomUUID(),
    name: `svc-${i}`,
    epoch: 1 + (i % 5),
    role: i % 2 ? 'production' : 'replica',
    productionNodeId: i % 2 ? NODE_ID : PEER_ID,
    activeNodeId: i % 2 ? NODE_ID : PEER_ID,
    leaseMs: 3_600_000,
    peers: [{ nodeId: PEER_ID, name: 'peer', agentUrl: 'http://127.0.0.108:17115' }],
    peerToken: `peer-${i}`,
  }));

  beforeAll(async () => {
    ensureAgentBuilt();
    dir = await mkdtemp(join(tmpdir(), 'agent-many-'));
    orchestrator.assignments = (nodeId) => (nodeId === NODE_ID ? scenarios : []);
    await orchestrator.start();
    await fleet.spawn({
      dir,
      name: 'many',
      config: {
        nodeId: NODE_ID,
        nodeName: 'many',
        orchestrators: [orchestrator.url],
        token: `agent-token-${randomUUID()}`,
        actionToken: ACTION_TOKEN,
        listen: { host: HOST, port: 17113 },
        heartbeatIntervalMs: 300,
        stateFile: join(dir, 'state.json'),
        logLevel: 'warn',
      },
    });
  });
  afterAll(async () => {
    await fleet.stopAll();
    await orchestrator.stop();
    await rm(dir, { recursive: true, force: true });
  });

  it('takes the whole assignment and reports every role, contract-valid', async () => {
    const h = await orchestrator.waitForHeartbeat((x) => x.body.scenarios.length === COUNT, 20_000);
    expect(h.invalid).toBeUndefined();
    const byId = new Map(h.body.scenarios.map((s) => [s.scenarioId, s]));
    for (const a of scenarios)
      expect(byId.get(a.scenarioId)).toEqual({ scenarioId: a.scenarioId, role: a.role, epoch: a.epoch });
    const status = await waitFor(
      async () => {
        const r = await getJson<{ scenarios: unknown[]; orchestrators: { lastError: string | null }[] }>(
          `http://${HOST}:17113/status`,
          ACTION_TOKEN,
        );
        const error = r.body.orchestrators[0].lastError;
        // The bug this guards against: every answer refused as invalid (never cleared).
        if (error && /invalid/.test(error)) throw new Error(`answer refused: ${error}`);
        // A 1,000-scenario answer each 300 ms may time out once on a loaded machine: wait for a good one.
        return r.body.scenarios.length === COUNT && error === null ? r.body : null;
      },
      { what: 'status with every scenario and no error' },
    );
    expect(status.orchestrators[0].lastError).toBeNull();
  });
});
