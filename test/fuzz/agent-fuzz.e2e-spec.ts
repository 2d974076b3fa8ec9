/**
 * Fuzzing the agent's HTTP API (a real agent process; a fake orchestrator that assigns one scenario
 * at epoch 3): action requests, peer heartbeats, status and stray paths, broken in type, range,
 * size, depth, encoding, structure, method, content type and auth, from one seed. Checked: never a
 * 5xx, never a 2xx without the right token, the agent stays up, and a script runs only for an
 * answer that says it ran. Seed and count: FUZZ_SEED, FUZZ_RUNS (as the API fuzz).
 */
import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import {
  AgentFleet,
  AgentProcess,
  FakeOrchestrator,
  ensureAgentBuilt,
  writeScript,
} from '@ha/testing/agent-harness';
import { RAW_BODIES, deepText, hostileString, hostileValue, Json } from './api-fuzzer';

const SEED = process.env.FUZZ_SEED ? Number(process.env.FUZZ_SEED) : 20261203;
const RUNS = Math.ceil((process.env.FUZZ_RUNS ? Number(process.env.FUZZ_RUNS) : 2500) / 2);
const HOST = '127.0.0.193';
const PORT = 17193;
const ACTION_TOKEN = `action-token-${randomUUID()}`;
const PEER_TOKEN = `peer-token-${randomUUID()}`;
const NODE_ID = randomUUID();
const PEER_ID = randomUUID();
const SCENARIO_ID = randomUUID();

jest.setTimeout(Math.max(300_000, RUNS * 100));

describe(`agent API fuzz (seed ${SEED}, ${RUNS} requests)`, () => {
  const fleet = new AgentFleet();
  const orchestrator = new FakeOrchestrator(HOST, PORT + 1);
  let dir: string;
  let agent: AgentProcess;
  const executions = (): string[] => {
    try {
      return readFileSync(join(dir, 'ran.log'), 'utf8').split('\n').filter(Boolean);
    } catch {
      return [];
    }
  };

  beforeAll(async () => {
    ensureAgentBuilt();
    dir = await mkdtemp(join(tmpdir(), 'agent-fuzz-'));
    const ran = writeScript(dir, 'ran.sh', `echo "$HA_ACTION $HA_STEP_ID" >> ${join(dir, 'ran.log')}`);
    orchestrator.assignments = (nodeId) =>
      nodeId === NODE_ID
        ? [
            {
              scenarioId: SCENARIO_ID,
              name: 'fuzzed',
              epoch: 3,
              role: 'replica',
              productionNodeId: PEER_ID,
              activeNodeId: PEER_ID,
              leaseMs: 3_600_000,
              peers: [{ nodeId: PEER_ID, name: 'peer', agentUrl: `http://${HOST}:${PORT + 2}` }],
              peerToken: PEER_TOKEN,
            },
          ]
        : [];
    await orchestrator.start();
    agent = await fleet.spawn({
      dir,
      name: 'fuzz-agent',
      config: {
        nodeId: NODE_ID,
        nodeName: 'fuzz-agent',
        orchestrators: [orchestrator.url],
        token: `agent-token-${randomUUID()}`,
        actionToken: ACTION_TOKEN,
        listen: { host: HOST, port: PORT },
        heartbeatIntervalMs: 500,
        defaultLeaseMs: 3_600_000,
        stateFile: join(dir, 'state.json'),
        actions: { promote: { command: ran }, resync: { command: ran }, 'ar-check': { command: ran } },
        logLevel: 'error',
      },
    });
    await orchestrator.waitForHeartbeat((h) => h.body.nodeId === NODE_ID);
  });

  afterAll(async () => {
    await fleet.stopAll();
    await orchestrator.stop();
    await rm(dir, { recursive: true, force: true });
  });

  it('no 5xx, no 2xx without the right token, the agent stays up, scripts run only when answered so', async () => {
    const plausibleAction = (): Record<string, Json> => ({
      operationId: randomUUID(),
      stepId: `fuzz-${randomUUID()}`,
      scenarioId: SCENARIO_ID,
      epoch: 3,
      deadline: Date.now() + 60_000,
    });
    const plausiblePeer = (): Record<string, Json> => ({
      fromNodeId: PEER_ID,
      scenarioId: SCENARIO_ID,
      role: 'production',
      epoch: 3,
      sentAt: Date.now(),
    });
    const arb = fc.record({
      target: fc.constantFrom(
        '/actions/promote',
        '/actions/resync',
        '/actions/ar-check',
        '/actions/demote',
        '/actions/reboot',
        '/actions/%00',
        '/actions/..%2F..%2Fpromote',
        '/peer/heartbeat',
        '/status',
        '/healthz',
        '/',
        '/actions/promote/x',
      ),
      method: fc.oneof(
        { weight: 8, arbitrary: fc.constant('POST') },
        { weight: 1, arbitrary: fc.constantFrom('GET', 'PUT', 'DELETE') },
      ),
      auth: fc.constantFrom('action', 'action', 'action', 'peer', 'none', 'wrong'),
      contentType: fc.oneof(
        { weight: 6, arbitrary: fc.constant('application/json') },
        { weight: 1, arbitrary: fc.constantFrom('text/plain', 'application/x-www-form-urlencoded', '') },
      ),
      mode: fc.constantFrom(
        'plausible',
        'mutated',
        'mutated',
        'mutated',
        'unknown-field',
        'hostile',
        'raw',
        'deep',
      ),
      field: fc.nat(),
      value: hostileValue,
      raw: fc.constantFrom(...RAW_BODIES),
      depth: fc.integer({ min: 33, max: 20_000 }),
      stepId: fc.option(hostileString, { freq: 3 }),
    });
    const samples = fc.sample(arb, { seed: SEED, numRuns: RUNS });
    const findings: string[] = [];
    let ranByAnswer = 0;
    const statuses: Record<number, number> = {};
    for (const c of samples) {
      const base = c.target === '/peer/heartbeat' ? plausiblePeer() : plausibleAction();
      if (c.stepId !== null && 'stepId' in base) base.stepId = c.stepId;
      let body: string | undefined;
      const keys = Object.keys(base);
      switch (c.mode) {
        case 'plausible':
          body = JSON.stringify(base);
          break;
        case 'mutated':
          body = JSON.stringify({ ...base, [keys[c.field % keys.length]]: c.value });
          break;
        case 'unknown-field':
          body = JSON.stringify({ ...base, command: c.value });
          break;
        case 'hostile':
          body = JSON.stringify(c.value);
          break;
        case 'raw':
          body = c.raw;
          break;
        case 'deep':
          body = deepText(c.depth, c.field % 2 ? 'array' : 'object');
          break;
      }
      const token =
        c.auth === 'action'
          ? ACTION_TOKEN
          : c.auth === 'peer'
            ? PEER_TOKEN
            : c.auth === 'wrong'
              ? 'nope-nope'
              : undefined;
      const headers: Record<string, string> = {};
      if (token) headers.authorization = `Bearer ${token}`;
      if (c.contentType) headers['content-type'] = c.contentType;
      let status: number;
      let text: string;
      try {
        const res = await fetch(`http://${HOST}:${PORT}${c.target}`, {
          method: c.method,
          headers,
          body: c.method === 'GET' ? undefined : body,
          signal: AbortSignal.timeout(15_000),
        });
        status = res.status;
        text = await res.text();
      } catch (err) {
        findings.push(`network error ${c.method} ${c.target}: ${(err as Error).message}`);
        if (!agent.running) break;
        continue;
      }
      statuses[status] = (statuses[status] ?? 0) + 1;
      const what = `${status} ${c.method} ${c.target} auth=${c.auth} [${c.mode}] ${String(body).slice(0, 120)}`;
      if (status >= 500) findings.push(`5xx: ${what} → ${text.slice(0, 200)}`);
      const needsAction = c.target.startsWith('/actions/') || c.target === '/status';
      if (status < 300 && needsAction && c.auth !== 'action')
        findings.push(`2xx without the action token: ${what}`);
      if (status < 300 && c.target === '/peer/heartbeat' && c.auth !== 'peer')
        findings.push(`2xx without the peer token: ${what}`);
      if (status === 200 && c.target.startsWith('/actions/')) {
        const answer = JSON.parse(text) as { replayed?: boolean };
        if (answer.replayed === false) ranByAnswer++;
      }
    }
    console.log(
      `agent API fuzz: seed ${SEED}, ${samples.length} requests, statuses ${JSON.stringify(statuses)}, ` +
        `scripts run ${executions().length}, findings ${findings.length}\n${findings.slice(0, 10).join('\n')}`,
    );
    expect(agent.running).toBe(true);
    expect((await fetch(`http://${HOST}:${PORT}/healthz`)).status).toBe(200);
    expect(findings).toEqual([]);
    // Every script run is one an answer reported as run (nothing ran behind a refusal).
    expect(executions()).toHaveLength(ranByAnswer);
  });
});
