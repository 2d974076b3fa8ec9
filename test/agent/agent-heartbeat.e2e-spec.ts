/**
 * Real agent process against a fake orchestrator endpoint: heartbeats, local checks, replica lag,
 * one orchestrator down and one hanging, assignments persisted, config errors.
 * Address 127.0.0.101, ports 17101-17104.
 */
import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ScenarioAssignment, checkJsonLimits } from '@ha/contracts';
import {
  AgentFleet,
  AgentProcess,
  FakeOrchestrator,
  ensureAgentBuilt,
  getJson,
  sleep,
  waitFor,
  writeScript,
} from '@ha/testing/agent-harness';

const HOST = '127.0.0.101';
const AGENT_PORT = 17101;
const ORCHESTRATOR_PORT = 17102;
const DEAD_ORCHESTRATOR_PORT = 17103;
const HANGING_ORCHESTRATOR_PORT = 17104;
const INTERVAL = 200;
const TOKEN = `agent-token-${randomUUID()}`;
const ACTION_TOKEN = `action-token-${randomUUID()}`;
const PEER_TOKEN = `peer-token-${randomUUID()}`;
const NODE_ID = randomUUID();

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch {
    return false;
  }
  try {
    return !/^\d+ \(.*\) Z/.test(readFileSync(`/proc/${pid}/stat`, 'utf8'));
  } catch {
    return false;
  }
}

// testTimeout in jest.config.js is per project and jest only honours it globally: set it here.
jest.setTimeout(30_000);

describe('heartbeat agent: heartbeats and local checks (real process)', () => {
  const fleet = new AgentFleet();
  const orchestrator = new FakeOrchestrator(HOST, ORCHESTRATOR_PORT);
  const hanging = new FakeOrchestrator(HOST, HANGING_ORCHESTRATOR_PORT);
  let dir: string;
  let agent: AgentProcess;
  let stateFile: string;

  beforeAll(async () => {
    ensureAgentBuilt();
    dir = await mkdtemp(join(tmpdir(), 'agent-heartbeat-'));
    stateFile = join(dir, 'state.json');
    await orchestrator.start();
    hanging.delayMs = 'hang';
    await hanging.start();
    const script = (name: string, body: string) => writeScript(dir, name, body);
    agent = await fleet.spawn({
      dir,
      name: 'hb-agent',
      config: {
        nodeId: NODE_ID,
        nodeName: 'hb-agent',
        orchestrators: [orchestrator.url, `http://${HOST}:${DEAD_ORCHESTRATOR_PORT}`, hanging.url],
        token: TOKEN,
        actionToken: ACTION_TOKEN,
        listen: { host: HOST, port: AGENT_PORT },
        heartbeatIntervalMs: INTERVAL,
        stateFile,
        checks: [
          {
            name: 'disk-ok',
            command: script('ok.sh', 'echo "DISK OK - 40% used"'),
            timeoutMs: 2000,
            intervalMs: 500,
          },
          {
            name: 'disk-warn',
            command: script('warn.sh', 'echo "DISK WARNING - 85% used"; exit 1'),
            intervalMs: 500,
          },
          {
            name: 'disk-crit',
            command: script('crit.sh', 'echo "DISK CRITICAL - 99% used" >&2; exit 2'),
            intervalMs: 500,
          },
          {
            name: 'hangs',
            // The background sleep shares the script's process group: the timeout must kill it too.
            command: script('hang.sh', `sleep 20 & echo $! > ${join(dir, 'hang-child.pid')}; wait`),
            timeoutMs: 300,
            intervalMs: 60_000,
          },
          { name: 'uses-args', command: '/bin/echo', args: ['a;b', '$(id)'], intervalMs: 500 },
          {
            // A plugin printing binary garbage: a NUL byte and bytes that are not UTF-8.
            name: 'garbage',
            command: script('garbage.sh', "printf 'bin\\000ary \\377\\376 garbage'"),
            intervalMs: 500,
          },
        ],
        replicaLag: { command: script('lag.sh', 'echo 4.5'), timeoutMs: 1000 },
      },
    });
  });

  afterAll(async () => {
    await fleet.stopAll();
    await orchestrator.stop();
    await hanging.stop();
    await rm(dir, { recursive: true, force: true });
  });

  it('sends contract-valid heartbeats with incrementing seq, one bootId and the node token', async () => {
    await waitFor(() => orchestrator.from(NODE_ID).length >= 6, { what: '6 heartbeats' });
    const received = orchestrator.from(NODE_ID);
    for (const h of received) {
      expect(h.invalid).toBeUndefined();
      expect(h.authorization).toBe(`Bearer ${TOKEN}`);
      expect(Math.abs(h.body.agentTime - h.receivedAt)).toBeLessThan(1000);
    }
    expect(new Set(received.map((h) => h.body.bootId)).size).toBe(1);
    const seqs = received.map((h) => h.body.seq);
    seqs.slice(1).forEach((seq, i) => expect(seq).toBe(seqs[i] + 1));
    // Roughly one per interval.
    const span = received[5].receivedAt - received[0].receivedAt;
    expect(span).toBeGreaterThanOrEqual(4 * INTERVAL);
    expect(span).toBeLessThan(15 * INTERVAL);
  });

  it('reports check results with Nagios semantics; a hanging script is critical and killed with its group', async () => {
    const h = await orchestrator.waitForHeartbeat((x) => x.body.checks.length === 6);
    const byName = Object.fromEntries(h.body.checks.map((c) => [c.name, c]));
    expect(byName['disk-ok']).toMatchObject({ status: 'ok', output: 'DISK OK - 40% used' });
    expect(byName['disk-warn']).toMatchObject({ status: 'warning', output: 'DISK WARNING - 85% used' });
    expect(byName['disk-crit']).toMatchObject({ status: 'critical', output: 'DISK CRITICAL - 99% used' });
    expect(byName.hangs).toMatchObject({ status: 'critical', output: 'timed out after 300 ms' });
    expect(byName.hangs.durationMs).toBeGreaterThanOrEqual(300);
    expect(byName.hangs.durationMs).toBeLessThan(2500);
    // Arguments reach the command verbatim, no shell in between.
    expect(byName['uses-args']).toMatchObject({ status: 'ok', output: 'a;b $(id)' });
    // Garbage is repaired at the source: the heartbeat passes the orchestrator's NUL/Unicode rules.
    expect(byName.garbage).toMatchObject({ status: 'ok', output: 'bin\uFFFDary \uFFFD\uFFFD garbage' });
    expect(checkJsonLimits(h.body)).toBeNull();

    const childPid = Number((await readFile(join(dir, 'hang-child.pid'), 'utf8')).trim());
    expect(childPid).toBeGreaterThan(0);
    // Gone (or a zombie waiting for init to reap it) shortly after the kill.
    await waitFor(() => !isAlive(childPid), { timeoutMs: 2000, what: `pid ${childPid} to die` });
  });

  it('reports the replica lag the probe prints', async () => {
    const h = await orchestrator.waitForHeartbeat((x) => x.body.replicaLagSeconds !== undefined);
    expect(h.body.replicaLagSeconds).toBe(4.5);
  });

  it('keeps heartbeating with one orchestrator down and one hanging, never stacking requests', async () => {
    const before = orchestrator.from(NODE_ID).length;
    await sleep(10 * INTERVAL);
    expect(orchestrator.from(NODE_ID).length - before).toBeGreaterThanOrEqual(7);
    // The hanging orchestrator got requests, but never two at once from this agent.
    expect(hanging.heartbeats.length).toBeGreaterThanOrEqual(2);
    expect(hanging.maxInFlight).toBe(1);

    const status = await getJson<{ orchestrators: Array<{ url: string; lastError: string | null }> }>(
      `${agent.url}/status`,
      ACTION_TOKEN,
    );
    expect(status.status).toBe(200);
    const byUrl = Object.fromEntries(status.body.orchestrators.map((o) => [o.url, o.lastError]));
    expect(byUrl[orchestrator.url]).toBeNull();
    expect(byUrl[`http://${HOST}:${DEAD_ORCHESTRATOR_PORT}`]).toBe('ECONNREFUSED');
    expect(byUrl[hanging.url]).toMatch(/timed out/);
  });

  it('stores assignments in its state file and reports the scenario; secrets never reach the logs', async () => {
    const scenarioId = randomUUID();
    const assignment: ScenarioAssignment = {
      scenarioId,
      name: 'orders-db',
      epoch: 3,
      role: 'replica',
      productionNodeId: randomUUID(),
      activeNodeId: randomUUID(),
      leaseMs: 3000,
      peers: [],
      peerToken: PEER_TOKEN,
    };
    orchestrator.assignments = () => [assignment];
    await waitFor(
      async () => {
        const saved = JSON.parse(await readFile(stateFile, 'utf8'));
        return saved.assignments.length === 1 && saved.scenarios[scenarioId]?.epoch === 3 ? saved : undefined;
      },
      { what: 'assignment persisted' },
    );
    const saved = JSON.parse(await readFile(stateFile, 'utf8'));
    expect(saved.assignments[0]).toEqual(assignment);
    // A node without a role takes the assigned one (this arms the self-fencing lease of production);
    // after that, roles change only through actions.
    expect(saved.scenarios[scenarioId]).toMatchObject({ epoch: 3, role: 'replica' });
    const h = await orchestrator.waitForHeartbeat((x) =>
      x.body.scenarios.some((s) => s.scenarioId === scenarioId),
    );
    expect(h.body.scenarios).toEqual([{ scenarioId, role: 'replica', epoch: 3 }]);

    const logs = agent.stdoutLines.join('\n');
    expect(logs.length).toBeGreaterThan(0);
    for (const secret of [TOKEN, ACTION_TOKEN, PEER_TOKEN]) expect(logs).not.toContain(secret);
    for (const log of agent.logs()) expect(typeof log.level).toBe('string');
  });

  it('stops cleanly on SIGTERM with exit code 0', async () => {
    const exit = await agent.stop();
    expect(exit).toEqual({ code: 0, signal: null });
    expect(agent.logs().some((l) => l.event === 'agent.stopped')).toBe(true);
  });

  it.each([
    ['listen:\n  host: 127.0.0.101\n  port: 99999\n', 'listen.port'],
    ['heartbeatIntervalMs: fast\n', 'heartbeatIntervalMs'],
    ['actions:\n  reboot:\n    command: /sbin/reboot\n', 'actions.reboot'],
    ['checks:\n  - name: disk\n    command: /bin/true\n    shell: true\n', 'checks[0].shell'],
  ])('a bad config exits non-zero with one line naming the field (%#)', async (extra, field) => {
    const base = [
      `nodeId: ${NODE_ID}`,
      'nodeName: bad-config',
      `orchestrators: ["${orchestrator.url}"]`,
      `token: ${TOKEN}`,
      `actionToken: ${ACTION_TOKEN}`,
    ];
    if (!extra.startsWith('listen:')) base.push(`listen: { host: ${HOST}, port: ${AGENT_PORT} }`);
    const bad = await fleet.spawn({
      dir,
      name: 'bad-config',
      yamlText: `${base.join('\n')}\n${extra}`,
      waitReady: false,
    });
    const exit = await bad.exited;
    expect(exit.code).toBe(2);
    const lines = bad.stderr.trim().split('\n');
    expect(lines).toHaveLength(1);
    expect(lines[0]).toContain(field);
    expect(bad.stderr).not.toContain(TOKEN);
  });
});
