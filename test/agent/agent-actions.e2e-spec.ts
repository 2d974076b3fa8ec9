/**
 * The action API of a real agent process: auth, validation, 404/409/413/415, idempotent steps
 * (also under concurrency), failed and timed-out actions, epochs persisted across a restart,
 * and a corrupt state file. Address 127.0.0.102, port 17111.
 */
import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ActionResponse, AgentErrorBody } from '@ha/contracts';
import {
  AgentFleet,
  AgentProcess,
  FakeOrchestrator,
  ensureAgentBuilt,
  getJson,
  postJson,
  writeScript,
} from '@ha/testing/agent-harness';

const HOST = '127.0.0.102';
const PORT = 17111;
const BASE = `http://${HOST}:${PORT}`;
const ACTION_TOKEN = `action-token-${randomUUID()}`;
const NODE_ID = randomUUID();
const SCENARIO_ID = randomUUID();
const OPERATION_ID = randomUUID();

// testTimeout in jest.config.js is per project and jest only honours it globally: set it here.
jest.setTimeout(30_000);

describe('heartbeat agent: action API (real process)', () => {
  const fleet = new AgentFleet();
  let dir: string;
  let logFile: string;
  let stateFile: string;
  let config: Record<string, unknown>;
  let agent: AgentProcess;

  /** Lines the action scripts appended: one per real execution. */
  const executions = (): string[] => {
    try {
      return readFileSync(logFile, 'utf8').split('\n').filter(Boolean);
    } catch {
      return [];
    }
  };
  const body = (stepId: string, epoch: number, extra: Record<string, unknown> = {}) => ({
    operationId: OPERATION_ID,
    stepId,
    scenarioId: SCENARIO_ID,
    epoch,
    deadline: Date.now() + 30_000,
    ...extra,
  });
  // The orchestrator's record of the scenario: the agent accepts no epoch beyond `issued`.
  const orchestrator = new FakeOrchestrator(HOST, 17112);
  let issued = 1;
  /** The orchestrator issues `epoch`; waits until the agent has heard of it in a heartbeat answer. */
  const issue = async (epoch: number) => {
    issued = epoch;
    const since = orchestrator.heartbeats.length;
    await orchestrator.waitForHeartbeat((h) => orchestrator.heartbeats.indexOf(h) > since + 1);
  };
  /** token null = no Authorization header. */
  const act = (action: string, payload: unknown, token: string | null = ACTION_TOKEN) =>
    postJson<ActionResponse & AgentErrorBody>(`${BASE}/actions/${action}`, payload, {
      token: token ?? undefined,
    });

  beforeAll(async () => {
    ensureAgentBuilt();
    dir = await mkdtemp(join(tmpdir(), 'agent-actions-'));
    logFile = join(dir, 'actions.log');
    stateFile = join(dir, 'state.json');
    const record = `echo "$HA_ACTION step=$HA_STEP_ID epoch=$HA_EPOCH op=$HA_OPERATION_ID scenario=$HA_SCENARIO_ID node=$HA_NODE_NAME" >> ${logFile}`;
    config = {
      nodeId: NODE_ID,
      nodeName: 'act-agent',
      orchestrators: [orchestrator.url],
      token: `agent-token-${randomUUID()}`,
      actionToken: ACTION_TOKEN,
      listen: { host: HOST, port: PORT },
      heartbeatIntervalMs: 500,
      // No orchestrator and no peers here: keep the self-fencing lease out of the way.
      defaultLeaseMs: 3_600_000,
      stateFile,
      actions: {
        promote: { command: writeScript(dir, 'promote.sh', `${record}\nsleep 0.5\necho promoted`) },
        demote: { command: writeScript(dir, 'demote.sh', `${record}\necho demoted`) },
        resync: { command: writeScript(dir, 'resync.sh', record) },
        fence: {
          command: writeScript(dir, 'fence.sh', `${record}\necho "fence device unreachable" >&2\nexit 1`),
        },
        'stop-app': { command: writeScript(dir, 'stop-app.sh', `${record}\nsleep 20`), timeoutMs: 300 },
      },
    };
    orchestrator.assignments = (nodeId) =>
      nodeId === NODE_ID
        ? [
            {
              scenarioId: SCENARIO_ID,
              name: 'orders-db',
              epoch: issued,
              role: 'production',
              productionNodeId: randomUUID(),
              activeNodeId: randomUUID(),
              leaseMs: 3_600_000,
              peers: [],
              peerToken: 'peer-token-x',
            },
          ]
        : [];
    await orchestrator.start();
    agent = await fleet.spawn({ dir, name: 'act-agent', config });
  });

  afterAll(async () => {
    await fleet.stopAll();
    await orchestrator.stop();
    await rm(dir, { recursive: true, force: true });
  });

  it('401 without a token, with a wrong token, and on /status', async () => {
    const cases = [null, 'wrong', `${ACTION_TOKEN}x`, ACTION_TOKEN.slice(0, -1)];
    for (const token of cases) {
      const res = await act('promote', body('auth-1', 1), token);
      expect(res.status).toBe(401);
      expect(res.body).toMatchObject({ statusCode: 401, error: 'Unauthorized' });
      expect(res.headers.get('www-authenticate')).toBe('Bearer');
    }
    expect((await getJson(`${BASE}/status`)).status).toBe(401);
    expect((await getJson(`${BASE}/status`, 'wrong')).status).toBe(401);
    expect(executions()).toEqual([]);
  });

  it('404 for an action not in this config (even a valid AGENT_ACTION) and for unknown ones', async () => {
    for (const action of ['start-app', 'reboot', '..%2Fpromote', '%E0%A4%A']) {
      const res = await act(action, body('nf-1', 1));
      expect(res.status).toBe(404);
      expect(res.body.message).toMatch(/not configured|malformed/);
    }
    expect(executions()).toEqual([]);
  });

  it('415 for a non-JSON content type, 413 for a body over 64 KiB', async () => {
    const text = await postJson(`${BASE}/actions/promote`, undefined, {
      token: ACTION_TOKEN,
      contentType: 'text/plain',
      raw: JSON.stringify(body('ct-1', 1)),
    });
    expect(text.status).toBe(415);
    const big = await act('promote', body('big-1', 1, { padding: 'x'.repeat(70 * 1024) }));
    expect(big.status).toBe(413);
    expect(big.body).toMatchObject({ statusCode: 413 });
    expect(executions()).toEqual([]);
  });

  it('400 naming the field for invalid bodies; a command line can never be sent', async () => {
    const cases: Array<[unknown, string]> = [
      [body('v-1', -1), 'epoch'],
      [body('v-2', 1.5), 'epoch'],
      [{ ...body('v-3', 1), operationId: 'nope' }, 'operationId'],
      [{ stepId: 'v-4', scenarioId: SCENARIO_ID, epoch: 1, deadline: Date.now() + 9000 }, 'operationId'],
      [body('v-4b', 1, { deadline: undefined }), 'deadline'],
      [body('v-4c', 2 ** 31), 'epoch'],
      [body('v-4d', 1e300), 'epoch'],
      [body('x'.repeat(129), 1), 'stepId'],
      [body('v-6\u0000', 1), 'stepId'],
      [body('v-7', 1, { command: 'rm -rf /' }), 'command'],
      [[body('v-8', 1)], 'body'],
    ];
    for (const [payload, field] of cases) {
      const res = await act('promote', payload);
      expect(res.status).toBe(400);
      expect(res.body.message).toContain(field);
    }
    const notJson = await postJson(`${BASE}/actions/promote`, undefined, {
      token: ACTION_TOKEN,
      raw: '{"epoch":',
    });
    expect(notJson.status).toBe(400);
    expect(executions()).toEqual([]);
  });

  it('runs a configured action with the HA_* environment, persists epoch and role before answering', async () => {
    await issue(5);
    const res = await act('promote', body('promote-5', 5));
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({
      action: 'promote',
      stepId: 'promote-5',
      scenarioId: SCENARIO_ID,
      epoch: 5,
      status: 'ok',
      exitCode: 0,
      timedOut: false,
      output: 'promoted\n',
      replayed: false,
    });
    expect(executions()).toEqual([
      `promote step=promote-5 epoch=5 op=${OPERATION_ID} scenario=${SCENARIO_ID} node=act-agent`,
    ]);
    // Already on disk when the answer arrived.
    const saved = JSON.parse(await readFile(stateFile, 'utf8'));
    expect(saved.scenarios[SCENARIO_ID]).toMatchObject({ epoch: 5, role: 'production' });
    expect(saved.steps.map((s: { response: ActionResponse }) => s.response.stepId)).toContain('promote-5');

    const status = await getJson<{ scenarios: Array<{ scenarioId: string; role: string; epoch: number }> }>(
      `${BASE}/status`,
      ACTION_TOKEN,
    );
    expect(status.body.scenarios).toEqual([
      expect.objectContaining({ scenarioId: SCENARIO_ID, role: 'production', epoch: 5 }),
    ]);
  });

  it('runs a stepId once: concurrent duplicates and later replays get the stored result', async () => {
    const before = executions().length;
    const [a, b, c] = await Promise.all([
      act('promote', body('promote-again', 5)),
      act('promote', body('promote-again', 5)),
      act('promote', body('promote-again', 5)),
    ]);
    for (const r of [a, b, c]) expect(r.status).toBe(200);
    expect([a, b, c].map((r) => r.body.replayed).sort()).toEqual([false, true, true]);
    expect(new Set([a, b, c].map((r) => r.body.startedAt)).size).toBe(1);

    const later = await act('promote', body('promote-again', 5));
    expect(later.body).toMatchObject({ status: 'ok', replayed: true, startedAt: a.body.startedAt });
    expect(executions().length - before).toBe(1);
    expect(executions().filter((l) => l.includes('step=promote-again'))).toHaveLength(1);

    // The same stepId cannot be reused for another action.
    const reused = await act('demote', body('promote-again', 5));
    expect(reused.status).toBe(409);
    expect(reused.body.message).toContain('already used');
  });

  it('409 with currentEpoch for a stale epoch, without running anything', async () => {
    const before = executions().length;
    const res = await act('demote', body('stale-4', 4));
    expect(res.status).toBe(409);
    expect(res.body).toMatchObject({ statusCode: 409, currentEpoch: 5 });
    expect(executions().length).toBe(before);
  });

  it('a failed action answers 200/failed, stores the higher epoch and keeps the role', async () => {
    issued = 7; // the agent learns it from the confirmation heartbeat the action triggers
    const res = await act('fence', body('fence-7', 7));
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ status: 'failed', exitCode: 1, timedOut: false, epoch: 7 });
    expect(res.body.output).toContain('fence device unreachable');
    const saved = JSON.parse(await readFile(stateFile, 'utf8'));
    expect(saved.scenarios[SCENARIO_ID]).toMatchObject({ epoch: 7, role: 'production' });
    expect((await act('demote', body('stale-6', 6))).body).toMatchObject({
      statusCode: 409,
      currentEpoch: 7,
    });
  });

  it('an action that outlives its timeout is killed and answered as failed', async () => {
    const started = Date.now();
    const res = await act('stop-app', body('stop-7', 7));
    expect(Date.now() - started).toBeLessThan(3000);
    expect(res.body).toMatchObject({ status: 'failed', timedOut: true, exitCode: null });
    expect(res.body.output).toContain('timed out after 300 ms');
  });

  it('refuses an epoch the orchestrator never issued (and stores nothing), confirming with it first', async () => {
    const before = executions().length;
    const confirms = () => orchestrator.heartbeats.filter((h) => h.body.confirmEpochs?.includes(SCENARIO_ID));
    const asked = confirms().length;
    const forged = await act('promote', body('forged-9', 9));
    expect(forged.status).toBe(409);
    expect(forged.body).toMatchObject({ reason: 'epoch_not_issued' });
    expect(forged.body.message).toContain("the orchestrator's epoch for this scenario is 7");
    expect(confirms().length).toBeGreaterThan(asked);
    const saved = JSON.parse(await readFile(stateFile, 'utf8'));
    expect(saved.scenarios[SCENARIO_ID].epoch).toBe(7);
    // Unknown scenario: refused, nothing runs.
    const unknown = await act('promote', { ...body('unknown-1', 1), scenarioId: randomUUID() });
    expect(unknown.status).toBe(404);
    expect(unknown.body).toMatchObject({ reason: 'unknown_scenario' });
    expect(executions().length).toBe(before);
    // `fence` is the exception: a fencing hook runs it for a scenario its node is no member of.
    const hook = await act('fence', { ...body('hook-1', 4), scenarioId: randomUUID() });
    expect(hook.status).toBe(200);
    expect(hook.body).toMatchObject({ action: 'fence', status: 'failed' }); // this test's script exits 1
    expect(executions().length).toBe(before + 1);
  });

  it('refuses an action whose deadline has passed (a request read late, e.g. after a pause)', async () => {
    const before = executions().length;
    const late = await act('demote', body('late-7', 7, { deadline: Date.now() - 2000 }));
    expect(late.status).toBe(409);
    expect(late.body).toMatchObject({ reason: 'deadline_passed' });
    expect(late.body.message).toMatch(/deadline passed \d+ ms ago/);
    expect(executions().length).toBe(before);
    const saved = JSON.parse(await readFile(stateFile, 'utf8'));
    expect(saved.steps.map((x: { response: ActionResponse }) => x.response.stepId)).not.toContain('late-7');
  });

  it('keeps epochs and the step log across a restart', async () => {
    expect(await agent.stop()).toEqual({ code: 0, signal: null });
    agent = await fleet.spawn({ dir, name: 'act-agent', config });
    const before = executions().length;

    const stale = await act('promote', body('after-restart-6', 6));
    expect(stale.status).toBe(409);
    expect(stale.body.currentEpoch).toBe(7);

    const replay = await act('promote', body('promote-5', 5));
    expect(replay.body).toMatchObject({ status: 'ok', replayed: true, stepId: 'promote-5' });
    expect(executions().length).toBe(before);

    issued = 8;
    const demote = await act('demote', body('demote-8', 8));
    expect(demote.body).toMatchObject({ status: 'ok', replayed: false });
    const saved = JSON.parse(await readFile(stateFile, 'utf8'));
    expect(saved.scenarios[SCENARIO_ID]).toMatchObject({ epoch: 8, role: 'demoted' });
  });

  it('refuses to start on a corrupt state file instead of resetting epochs', async () => {
    const corrupt = join(dir, 'corrupt-state.json');
    await writeFile(corrupt, '{"version":1,"nodeId":"');
    const bad = await fleet.spawn({
      dir,
      name: 'corrupt',
      config: { ...config, stateFile: corrupt, listen: { host: HOST, port: PORT + 5 } },
      waitReady: false,
    });
    const exit = await bad.exited;
    expect(exit.code).toBe(3);
    expect(bad.stderr.trim().split('\n')).toHaveLength(1);
    expect(bad.stderr).toContain('corrupt');
    expect(await readFile(corrupt, 'utf8')).toBe('{"version":1,"nodeId":"');
  });
});
