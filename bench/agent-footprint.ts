/**
 * One agent at rest carrying N scenarios: RSS and share of one core over 20 s, after 15 s of
 * settling, against a fake orchestrator that answers like the real one (assignments left out while
 * the agent holds them). Started as the harness starts it (with AGENT_NODE_FLAGS), and with
 * `--bare` without those flags, for the comparison.
 *
 *   npm run build && node dist/bench/agent-footprint.js [--scenarios 1000] [--bare]
 *
 * Agent on 127.0.0.109:17117, fake orchestrator on :17118 (no PostgreSQL or Redis needed).
 */
import { randomUUID } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { AGENT_NODE_FLAGS, ScenarioAssignment } from '@ha/contracts';
import { AgentFleet, FakeOrchestrator, sleep } from '../libs/testing/src/agent-harness';
import { progress, runBench } from './lib/common';

function arg(name: string, fallback: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 && process.argv[i + 1] !== undefined ? process.argv[i + 1] : fallback;
}

const N = Math.max(0, Number(arg('scenarios', '1000')));
const BARE = process.argv.includes('--bare');
const HOST = '127.0.0.109';
const fleet = new AgentFleet();
const orchestrator = new FakeOrchestrator(HOST, 17118);
const dir = mkdtempSync(join(tmpdir(), 'agent-footprint-'));

async function usage(pid: number, ms: number): Promise<{ rssMB: number; cpuPctOfOneCore: number }> {
  const ticks = () => {
    const f = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
    return Number(f[11]) + Number(f[12]); // utime + stime, clock ticks (100/s)
  };
  const t0 = ticks();
  await sleep(ms);
  const t1 = ticks();
  const rss = Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? 0);
  return { rssMB: Math.round(rss / 1024), cpuPctOfOneCore: +((t1 - t0) / (ms / 1000)).toFixed(1) };
}

async function main(): Promise<void> {
  const nodeId = randomUUID();
  const peer = randomUUID();
  const scenarios: ScenarioAssignment[] = Array.from({ length: N }, (_, i) => ({
    scenarioId: randomUUID(),
    name: `svc-${i}`,
    epoch: 1,
    role: i % 2 ? 'production' : 'replica',
    productionNodeId: i % 2 ? nodeId : peer,
    activeNodeId: i % 2 ? nodeId : peer,
    leaseMs: 3_600_000,
    peers: [{ nodeId: peer, name: 'peer', agentUrl: 'http://127.0.0.110:17119' }],
    peerToken: `peer-token-${i}`,
  }));
  orchestrator.assignments = (id) => (id === nodeId ? scenarios : []);
  orchestrator.versioned = true;
  await orchestrator.start();
  if (BARE) AGENT_NODE_FLAGS.length = 0;
  const agent = await fleet.spawn({
    dir,
    name: 'footprint',
    config: {
      nodeId,
      nodeName: 'footprint',
      orchestrators: [orchestrator.url],
      token: `agent-token-${randomUUID()}`,
      actionToken: `action-token-${randomUUID()}`,
      listen: { host: HOST, port: 17117 },
      heartbeatIntervalMs: 1000,
      stateFile: join(dir, 'state.json'),
      logLevel: 'warn',
    },
  });
  progress(
    `agent with ${N} scenarios${BARE ? ' (no node flags)' : ` (${AGENT_NODE_FLAGS.join(' ')})`}: settling 15 s`,
  );
  await sleep(15_000);
  const u = await usage(agent.pid, 20_000);
  progress(`  RSS ${u.rssMB} MB, ${u.cpuPctOfOneCore} % of a core`);
  console.log(
    JSON.stringify({
      bench: 'agent-footprint',
      scenarios: N,
      nodeFlags: BARE ? [] : AGENT_NODE_FLAGS,
      heartbeatIntervalMs: 1000,
      ...u,
      heartbeatsTaken: orchestrator.heartbeats.length,
      date: new Date().toISOString(),
    }),
  );
}

runBench(main, async () => {
  await fleet.stopAll();
  await orchestrator.stop();
  rmSync(dir, { recursive: true, force: true });
});
