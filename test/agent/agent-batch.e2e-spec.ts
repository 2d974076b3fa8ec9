/**
 * The agent's batch action route, POST /actions/{action}/batch (a mass failover's many steps in one
 * call): each request is handled exactly as alone — epoch fencing, deadline, unknown scenario,
 * idempotent by stepId — with its own result; a `batch` action's script runs once for all of them
 * and reads them from HA_BATCH_FILE. Bad calls get a 4xx and run nothing. Real agent process on
 * 127.0.0.106:17116, fake orchestrator on :17117.
 */
import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  AgentFleet,
  FakeOrchestrator,
  ensureAgentBuilt,
  getJson,
  postJson,
  writeScript,
} from '@ha/testing/agent-harness';

const HOST = '127.0.0.106';
const PORT = 17116;
const BASE = `http://${HOST}:${PORT}`;
const ACTION_TOKEN = `action-token-${randomUUID()}`;
const NODE_ID = randomUUID();
const OPERATION_ID = randomUUID();
const SCENARIOS = [randomUUID(), randomUUID(), randomUUID()];

jest.setTimeout(30_000);

describe('heartbeat agent: batch action route (real process)', () => {
  const fleet = new AgentFleet();
  const orchestrator = new FakeOrchestrator(HOST, 17117);
  let dir: string;
  const lines = (file: string): string[] => {
    try {
      return readFileSync(join(dir, file), 'utf8').split('\n').filter(Boolean);
    } catch {
      return [];
    }
  };
  const req = (scenarioId: string, stepId: string, epoch: number, extra: Record<string, unknown> = {}) => ({
    operationId: OPERATION_ID,
    stepId,
    scenarioId,
    epoch,
    deadline: Date.now() + 20_000,
    ...extra,
  });
  /** token null = no Authorization header. */
  const batch = (action: string, body: unknown, token: string | null = ACTION_TOKEN) =>
    postJson<any>(`${BASE}/actions/${action}/batch`, body, { token: token ?? undefined });

  beforeAll(async () => {
    ensureAgentBuilt();
    dir = await mkdtemp(join(tmpdir(), 'agent-batch-'));
    orchestrator.assignments = (nodeId) =>
      nodeId === NODE_ID
        ? SCENARIOS.map((scenarioId, i) => ({
            scenarioId,
            name: `batch-${i}`,
            epoch: 1,
            role: 'replica' as const,
            productionNodeId: randomUUID(),
            activeNodeId: randomUUID(),
            leaseMs: 3_600_000,
            peers: [],
            peerToken: 'peer-token-batch',
          }))
        : [];
    await orchestrator.start();
    await fleet.spawn({
      dir,
      name: 'batch-agent',
      config: {
        nodeId: NODE_ID,
        nodeName: 'batch-agent',
        orchestrators: [orchestrator.url],
        token: `agent-token-${randomUUID()}`,
        actionToken: ACTION_TOKEN,
        listen: { host: HOST, port: PORT },
        heartbeatIntervalMs: 300,
        defaultLeaseMs: 3_600_000,
        stateFile: join(dir, 'state.json'),
        actions: {
          promote: {
            command: writeScript(
              dir,
              'promote.sh',
              `echo "size=$HA_BATCH_SIZE scenario=$HA_SCENARIO_ID" >> ${join(dir, 'promote.log')}\n` +
                `cat "$HA_BATCH_FILE" >> ${join(dir, 'promote-items.log')}\necho >> ${join(dir, 'promote-items.log')}\n` +
                'echo promoted all',
            ),
            batch: true,
          },
          demote: {
            command: writeScript(
              dir,
              'demote.sh',
              `echo "$HA_SCENARIO_ID $HA_STEP_ID" >> ${join(dir, 'demote.log')}\n` +
                '[ "$HA_STEP_ID" = "d-slow" ] && sleep 2\nexit 0',
            ),
          },
        },
      },
    });
    await orchestrator.waitForHeartbeat((h) => h.body.nodeId === NODE_ID);
    // The agent knows its three scenarios (epoch 1) once an answer came back.
    await orchestrator.waitForHeartbeat(
      (h) => h.body.nodeId === NODE_ID && (h.body.scenarios as unknown[]).length === 3,
    );
  });
  afterAll(async () => {
    await fleet.stopAll();
    await orchestrator.stop();
    await rm(dir, { recursive: true, force: true });
  });

  it('a batch action runs its script once for every request of the call; each gets its own answer', async () => {
    const res = await batch('promote', { requests: SCENARIOS.map((s, i) => req(s, `p-${i}`, 1)) });
    expect(res.status).toBe(200);
    expect(res.body.results).toHaveLength(3);
    res.body.results.forEach((r: any, i: number) =>
      expect(r).toMatchObject({
        ok: true,
        action: 'promote',
        scenarioId: SCENARIOS[i],
        stepId: `p-${i}`,
        epoch: 1,
        status: 'ok',
        replayed: false,
        output: expect.stringMatching(/^promoted all/),
      }),
    );
    expect(lines('promote.log')).toEqual(['size=3 scenario=']);
    const items = JSON.parse(lines('promote-items.log')[0]).items;
    expect(items.map((x: any) => x.scenarioId).sort()).toEqual([...SCENARIOS].sort());
    expect(items.map((x: any) => x.stepId).sort()).toEqual(['p-0', 'p-1', 'p-2']);
    // Each scenario is production now (one run, three roles).
    const st = await getJson<any>(`${BASE}/status`, ACTION_TOKEN);
    for (const s of SCENARIOS) {
      expect(st.body.scenarios.find((x: any) => x.scenarioId === s)).toMatchObject({
        role: 'production',
        epoch: 1,
      });
    }
  });

  it('the same batch again is answered from the step log: replayed, nothing runs', async () => {
    const res = await batch('promote', { requests: SCENARIOS.map((s, i) => req(s, `p-${i}`, 1)) });
    expect(res.status).toBe(200);
    expect(res.body.results.every((r: any) => r.ok === true && r.replayed === true)).toBe(true);
    expect(lines('promote.log')).toHaveLength(1);
  });

  it('refusals stay per request: unknown scenario, stale epoch, epoch never issued, deadline passed', async () => {
    const unknown = randomUUID();
    const res = await batch('demote', {
      requests: [
        req(SCENARIOS[0], 'd-ok', 1),
        req(unknown, 'd-unknown', 1),
        req(SCENARIOS[1], 'd-stale', 0),
        req(SCENARIOS[2], 'd-future', 7),
        req(SCENARIOS[2], 'd-late', 1, { deadline: Date.now() - 60_000 }),
      ],
    });
    expect(res.status).toBe(200);
    const [ok, unk, stale, future, late] = res.body.results;
    expect(ok).toMatchObject({ ok: true, status: 'ok', scenarioId: SCENARIOS[0] });
    expect(unk).toMatchObject({ ok: false, statusCode: 404, reason: 'unknown_scenario' });
    expect(stale).toMatchObject({ ok: false, statusCode: 409, reason: 'stale_epoch', currentEpoch: 1 });
    expect(future).toMatchObject({ ok: false, statusCode: 409, reason: 'epoch_not_issued' });
    expect(late).toMatchObject({ ok: false, statusCode: 409, reason: 'deadline_passed' });
    // Only the accepted one ran (demote is not a batch action: one run per request).
    expect(lines('demote.log')).toEqual([`${SCENARIOS[0]} d-ok`]);
  });

  it('bad calls get a 4xx and run nothing', async () => {
    const before = [lines('promote.log').length, lines('demote.log').length];
    const one = [req(SCENARIOS[0], 'bad-1', 1)];
    expect((await batch('promote', { requests: one }, null)).status).toBe(401);
    expect((await batch('promote', { requests: one }, 'wrong')).status).toBe(401);
    expect((await batch('resync', { requests: one })).status).toBe(404);
    expect((await batch('reboot', { requests: one })).status).toBe(404);
    expect((await batch('promote', { requests: [] })).status).toBe(400);
    expect((await batch('promote', {})).status).toBe(400);
    const badItem = await batch('promote', { requests: [...one, { ...one[0], scenarioId: 'nope' }] });
    expect(badItem.status).toBe(400);
    expect(JSON.stringify(badItem.body)).toMatch(/scenarioId/);
    const ctl = await batch('promote', { requests: [req(SCENARIOS[0], 'bad\nstep', 1)] });
    expect(ctl.status).toBe(200);
    expect(ctl.body.results[0]).toMatchObject({ ok: false, statusCode: 400 });
    const big = await postJson(`${BASE}/actions/promote/batch`, undefined, {
      token: ACTION_TOKEN,
      raw: JSON.stringify({ requests: one, pad: 'x'.repeat(3 * 1024 * 1024) }),
    }).catch((e: Error) => ({ status: 413, body: e.message }));
    expect(big.status).toBe(413);
    const get = await getJson(`${BASE}/actions/promote/batch`, ACTION_TOKEN);
    expect(get.status).toBe(405);
    expect([lines('promote.log').length, lines('demote.log').length]).toEqual(before);
  });

  it('an item still running at its deadline is answered in_progress; the others are not held up; a retry gets its result', async () => {
    const started = Date.now();
    const res = await batch('demote', {
      requests: [
        req(SCENARIOS[0], 'd-fast', 1),
        req(SCENARIOS[1], 'd-slow', 1, { deadline: Date.now() + 1200 }),
      ],
    });
    expect(Date.now() - started).toBeLessThan(1900);
    expect(res.body.results[0]).toMatchObject({ ok: true, status: 'ok', stepId: 'd-fast' });
    expect(res.body.results[1]).toMatchObject({ ok: false, statusCode: 409, reason: 'in_progress' });
    // It goes on; once done, the same stepId is answered from the step log (it ran once).
    await new Promise((r) => setTimeout(r, 1500));
    const again = await batch('demote', { requests: [req(SCENARIOS[1], 'd-slow', 1)] });
    expect(again.body.results[0]).toMatchObject({ ok: true, status: 'ok', replayed: true });
    expect(lines('demote.log').filter((l) => l.endsWith('d-slow'))).toHaveLength(1);
  });
});
