/**
 * Worker takeover: how long a failover takes to resume after the worker process running it is
 * killed with SIGKILL, and that the interrupted side effect still happens exactly once.
 *
 * Set-up like test/failover/worker-crash.e2e-spec.ts: an orchestrator in this process WITHOUT the
 * worker role (api,detector,dns), two worker-only orchestrator processes (the built main.js with
 * ORCHESTRATOR_ROLES=worker, same database schema and Redis prefix), real agents on 127.0.0.131/132,
 * a manual scenario whose promote action script sleeps 1 s. Each run:
 *   POST failover → the promote step is `running` → SIGKILL the worker that holds it (found by its
 *   "step started" log line) → the other worker, already running, takes the step over.
 * Measured per run (the operation is polled every 10 ms through the API):
 *   (a) kill → the promote step's attempt 2 starts (its `attempts` becomes 2);
 *   (b) kill → the operation succeeded;
 *   (c) kill → the surviving worker reports the job stalled (its log line's time; BullMQ's lock
 *       expired and its stalled check re-queued the job).
 * Each run checks that the replica's action log holds exactly one promote (and the production's one
 * demote) for the operation's epoch. A fresh standby worker is then spawned and a failback resets.
 *
 *   npm run build && node dist/bench/worker-takeover.js [runs=10] [workerLockMs=2000]
 *   (WORKER_LOCK_MS in the environment is used when the second argument is absent)
 *
 * Own schema and Redis prefix (dropped at the end); agents on 127.0.0.131/132:18130, workers on
 * 127.0.0.1:18131/18132, embedded DNS on 127.0.0.1:16131.
 */
import 'reflect-metadata';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { NestFastifyApplication } from '@nestjs/platform-fastify';
import { createApp } from '../apps/orchestrator/src/bootstrap';
import { loadConfig } from '../apps/orchestrator/src/config/app-config';
import { queryServer } from '../apps/orchestrator/src/dns/embedded/dns-query';
import { AgentFleet, writeScript } from '../libs/testing/src/agent-harness';
import { ChildOrchestrator, spawnOrchestrator } from './lib/child-orchestrator';
import { apiClient, benchEnv, progress, runBench, sleep, summary, until, agentConfig } from './lib/common';

const RUNS = Number(process.argv[2] ?? 10);
const LOCK_MS = Number(process.argv[3] ?? process.env.WORKER_LOCK_MS ?? 2000);
const INTERVAL = 300;
const PROMOTE_SLEEP_S = 1;
const DNS_PORT = 16131;
const AGENT_PORT = 18130;
const WORKER_PORTS = [18131, 18132];
const ZONE = 'takeover.bench.test';
const RECORD = `app.${ZONE}`;
const POLL_MS = 10;

if (!Number.isInteger(RUNS) || RUNS < 1 || !Number.isInteger(LOCK_MS) || LOCK_MS < 500) {
  process.stderr.write('usage: worker-takeover.js [runs >= 1] [workerLockMs >= 500]\n');
  process.exit(2);
}

const env = benchEnv({
  DNS_HOST: '127.0.0.1',
  DNS_PORT: String(DNS_PORT),
  DETECTOR_TICK_MS: '100',
  HEARTBEAT_FLUSH_MS: '500',
  WORKER_LOCK_MS: String(LOCK_MS),
  ORCHESTRATOR_ROLES: 'api,detector,dns',
  LOG_LEVEL: 'error',
});
const dir = mkdtempSync(join(tmpdir(), 'ha-bench-takeover-'));
const fleet = new AgentFleet();
const workers: (ChildOrchestrator | null)[] = [null, null];
let app: NestFastifyApplication | null = null;

/** Worker-only orchestrator process in slot `i` (info logs: "step started" tells who runs what). */
async function spawnWorker(i: number): Promise<ChildOrchestrator> {
  workers[i] = await spawnOrchestrator({
    env: { ...env.env, ORCHESTRATOR_ROLES: 'worker', LOG_LEVEL: 'info' },
    port: WORKER_PORTS[i],
  });
  return workers[i]!;
}

function startedStep(w: ChildOrchestrator, operationId: string, step: string) {
  return w.logs().find((l) => l.msg === 'step started' && l.operationId === operationId && l.step === step);
}

/** Lines `<action> epoch=<epoch> …` in a node's action log (`started`: lines written before the action's work). */
function actionLines(node: string, action: string, epoch: number, started = false): number {
  const f = join(dir, `${node}-${started ? 'started' : 'actions'}.log`);
  if (!existsSync(f)) return 0;
  return readFileSync(f, 'utf8')
    .split('\n')
    .filter((l) => l === `${action} epoch=${epoch}` || l.startsWith(`${action} epoch=${epoch} `)).length;
}

async function main(): Promise<void> {
  const config = loadConfig(env.env);
  app = await createApp(config);
  await app.listen({ host: '127.0.0.1', port: 0 });
  const base = `http://127.0.0.1:${(app.getHttpServer().address() as { port: number }).port}`;
  const api = apiClient(() => base, env.adminToken);

  progress('starting two worker processes');
  await Promise.all([spawnWorker(0), spawnWorker(1)]);

  const nodes: { name: string; id: string; address: string }[] = [];
  for (const [i, name] of ['prod', 'replica'].entries()) {
    const address = `127.0.0.${131 + i}`;
    const n = await api('POST', '/api/v1/nodes', {
      name,
      address,
      agentUrl: `http://${address}:${AGENT_PORT}`,
    });
    const actions: Record<string, unknown> = {};
    const log = join(dir, `${name}-actions.log`);
    for (const a of ['promote', 'demote', 'resync', 'fence']) {
      // promote: note its start (so the worker is killed while it runs), then take 1 s.
      const sleepLine =
        a === 'promote'
          ? `echo "promote epoch=$HA_EPOCH" >> "${join(dir, `${name}-started.log`)}"\nsleep ${PROMOTE_SLEEP_S}\n`
          : '';
      const script = writeScript(
        dir,
        `${name}-${a}.sh`,
        `${sleepLine}echo "${a} epoch=$HA_EPOCH step=$HA_STEP_ID" >> "${log}"\nexit 0`,
      );
      actions[a] = { command: script, args: [], timeoutMs: 10000 };
    }
    await fleet.spawn({
      dir,
      name: `agent-${name}`,
      config: agentConfig({
        node: n,
        name,
        orchestrator: base,
        address,
        port: AGENT_PORT,
        intervalMs: INTERVAL,
        dir,
        actions,
      }),
    });
    nodes.push({ name, id: n.node.id, address });
  }
  const [prod, replica] = nodes;
  const s = await api('POST', '/api/v1/scenarios', {
    name: 'takeover',
    productionNodeId: prod.id,
    replicaNodeIds: [replica.id],
    dnsRecords: [{ zone: ZONE, name: RECORD, type: 'A', ttl: 1 }],
    failoverMode: 'manual',
    checks: [{ name: 'heartbeat', kind: 'heartbeat', intervalMs: INTERVAL, ttlMs: 4 * INTERVAL }],
    policy: { leaseMs: 5 * INTERVAL, leaseMarginMs: 300, holdDownMs: 0, recoveryHoldMs: 1000 },
  });
  const answer = async () =>
    (await queryServer({ host: '127.0.0.1', port: DNS_PORT, timeoutMs: 200 }, RECORD, 'A')).answers.map(
      (a) => (a as { address: string }).address,
    );
  const operation = (id: string) => api('GET', `/api/v1/operations/${id}`);
  const waitSucceeded = async (id: string, what: string) => {
    let last: any = null;
    await until(
      what,
      async () => {
        last = await operation(id);
        if (last.state === 'failed') throw new Error(`${what} failed: ${last.error}`);
        return last.state === 'succeeded';
      },
      60000,
      50,
    ).catch((err: Error) => {
      throw new Error(`${err.message}: ${JSON.stringify(last?.steps ?? last)}`);
    });
  };
  // Agents learn their scenario and peers from a heartbeat answer.
  await sleep(3 * INTERVAL);
  const started = await api('POST', `/api/v1/scenarios/${s.id}/start`, { reason: 'bench' });
  await waitSucceeded(started.id, 'start');

  const killToAttempt2: number[] = [];
  const killToSucceeded: number[] = [];
  const killToStalled: number[] = [];
  let replayed = 0;
  for (let run = 0; run < RUNS; run++) {
    await until('DNS → production', async () => (await answer())[0] === prod.address);
    await until(
      'scenario running',
      async () => (await api('GET', `/api/v1/scenarios/${s.id}`)).state === 'running',
    );
    // Let both agents settle in their roles.
    await sleep(3 * INTERVAL);

    const fo = await api('POST', `/api/v1/scenarios/${s.id}/failover`, { reason: `bench run ${run + 1}` });
    await until(
      'promote running',
      async () => (await operation(fo.id)).steps.find((x: any) => x.name === 'promote').state === 'running',
      20000,
      POLL_MS,
    );
    let holder = -1;
    await until(
      'the worker running promote',
      async () => (holder = workers.findIndex((w) => !!w && !!startedStep(w, fo.id, 'promote'))) >= 0,
      3000,
      2,
    );
    // Kill while the agent runs the promote script (the worker is waiting for its answer), not in
    // the few ms between "step running" and the agent call.
    const epoch = (await operation(fo.id)).epoch as number;
    await until(
      'promote script started',
      async () => actionLines('replica', 'promote', epoch, true) > 0,
      3000,
      2,
    );
    const victim = workers[holder]!;
    const survivor = workers[1 - holder]!;
    const killedAt = Date.now();
    victim.child.kill('SIGKILL');

    let resumedAt = 0;
    let op: any = null;
    const deadline = killedAt + 60000;
    for (;;) {
      op = await operation(fo.id);
      const now = Date.now();
      const promote = op.steps.find((x: any) => x.name === 'promote');
      if (!resumedAt && promote.attempts >= 2) resumedAt = now;
      if (op.state === 'succeeded') break;
      if (op.state === 'failed') throw new Error(`run ${run + 1}: failover failed: ${op.error}`);
      if (now > deadline) throw new Error(`run ${run + 1}: not finished 60 s after the kill`);
      await sleep(POLL_MS);
    }
    const doneAt = Date.now();
    if (!resumedAt) throw new Error(`run ${run + 1}: promote succeeded without a second attempt`);
    if (!startedStep(survivor, fo.id, 'promote')) {
      throw new Error(`run ${run + 1}: the surviving worker did not run promote`);
    }
    const promotes = actionLines('replica', 'promote', op.epoch);
    const demotes = actionLines('prod', 'demote', op.epoch);
    if (promotes !== 1 || demotes !== 1) {
      throw new Error(
        `run ${run + 1}: epoch ${op.epoch}: promote ran ${promotes} times on the replica, demote ${demotes} times on production`,
      );
    }
    const stalled = survivor
      .logs()
      .filter((l) => l.msg?.toString().startsWith('step job stalled') && l.jobId === `${fo.id}.3`)
      .map((l) => new Date(String(l.time)).getTime())[0];
    if (op.steps.find((x: any) => x.name === 'promote').output?.replayed === true) replayed += 1;
    if (process.env.BENCH_DEBUG) {
      // The surviving worker's timeline of this operation, relative to the kill.
      for (const l of survivor.logs()) {
        if (l.operationId !== fo.id && !String(l.jobId ?? '').startsWith(fo.id)) continue;
        progress(`  +${new Date(String(l.time)).getTime() - killedAt} ms ${l.msg} ${l.step ?? ''}`);
      }
    }
    killToAttempt2.push(resumedAt - killedAt);
    killToSucceeded.push(doneAt - killedAt);
    if (stalled) killToStalled.push(stalled - killedAt);
    progress(
      `run ${run + 1}: kill→attempt 2 ${resumedAt - killedAt} ms, kill→succeeded ${doneAt - killedAt} ms` +
        (stalled ? `, kill→stalled detected ${stalled - killedAt} ms` : '') +
        `; promote ran once (epoch ${op.epoch})`,
    );

    // A fresh standby in the killed worker's slot, then fail back to production.
    await victim.exited;
    await spawnWorker(holder);
    await until(
      'failed_over',
      async () => (await api('GET', `/api/v1/scenarios/${s.id}`)).state === 'failed_over',
    );
    const fb = await api('POST', `/api/v1/scenarios/${s.id}/failback`, { reason: 'bench reset' });
    await waitSucceeded(fb.id, 'failback');
  }

  console.log(
    JSON.stringify(
      {
        bench: 'worker-takeover',
        date: new Date().toISOString(),
        runs: RUNS,
        workerLockMs: LOCK_MS,
        // as set by apps/orchestrator/src/operations/operations.queue.ts
        stalledIntervalMs: Math.max(500, Math.floor(LOCK_MS / 2)),
        promoteActionSleepMs: PROMOTE_SLEEP_S * 1000,
        pollMs: POLL_MS,
        killToAttempt2Ms: summary(killToAttempt2),
        killToSucceededMs: summary(killToSucceeded),
        killToStalledDetectedMs: killToStalled.length === RUNS ? summary(killToStalled) : null,
        promoteRanExactlyOncePerRun: true,
        // attempt 2 got the agent's stored result of the interrupted promote (same step id)
        promoteReplayedByAgent: replayed,
        samples: { killToAttempt2, killToSucceeded, killToStalledDetected: killToStalled },
      },
      null,
      2,
    ),
  );
}

runBench(main, async () => {
  await Promise.all(workers.map((w) => w?.stop('SIGKILL')));
  await fleet.stopAll().catch(() => undefined);
  await app?.close().catch(() => undefined);
  rmSync(dir, { recursive: true, force: true });
  await env.cleanup();
});
