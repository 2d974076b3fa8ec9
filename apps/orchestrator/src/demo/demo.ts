/**
 * `npm run demo`: a whole protected service on this machine, in one command.
 * Starts the orchestrator (API, detector, worker, embedded DNS), two real agents on loopback
 * addresses (production 127.0.0.21, replica 127.0.0.22), creates a scenario in auto mode with the
 * DNS name app.demo.test, starts it, and prints how to watch DNS and how to kill production.
 * It uses its own schema (`demo`) and Redis prefix (`ha-demo`), reset at every start.
 */
import 'reflect-metadata';
import { ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chmodSync, mkdirSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import Redis from 'ioredis';
import { Client } from 'pg';
import { AGENT_NODE_FLAGS } from '@ha/contracts';
import { stringify } from 'yaml';
import { createApp } from '../bootstrap';
import { ConfigError, loadConfig } from '../config/app-config';
import { DependencyUnavailableError, ensureDatabase } from '../database/database-bootstrap';
import { redisOptionsFromUrl } from '../redis/redis-url';

const ROOT = path.resolve(__dirname, '../../../../..');
const WORK = process.env.DEMO_DIR ?? path.join(ROOT, '.tmp', 'demo');
const AGENT_MAIN = path.join(ROOT, 'dist/apps/heartbeat-agent/src/main.js');

const NODES = [
  { name: 'demo-prod', address: process.env.DEMO_PRODUCTION_ADDRESS ?? '127.0.0.21' },
  { name: 'demo-replica', address: process.env.DEMO_REPLICA_ADDRESS ?? '127.0.0.22' },
];
const AGENT_PORT = Number(process.env.DEMO_AGENT_PORT ?? 7400);
const RECORD = 'app.demo.test';

async function api(base: string, token: string, method: string, p: string, body?: unknown) {
  const res = await fetch(`${base}${p}`, {
    method,
    headers: { authorization: `Bearer ${token}`, ...(body ? { 'content-type': 'application/json' } : {}) },
    body: body ? JSON.stringify(body) : undefined,
  });
  const json = (await res.json().catch(() => ({}))) as any;
  if (res.status >= 300) throw new Error(`${method} ${p} → ${res.status}: ${json.message ?? ''}`);
  return json;
}

async function resetState(databaseUrl: string, schema: string, redisUrl: string, prefix: string) {
  const c = new Client({ connectionString: databaseUrl });
  await c.connect();
  await c.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
  await c.end();
  const r = new Redis({ ...redisOptionsFromUrl(redisUrl), maxRetriesPerRequest: 1 });
  let cursor = '0';
  do {
    const [next, keys] = await r.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 500);
    cursor = next;
    if (keys.length) await r.del(...keys);
  } while (cursor !== '0');
  r.disconnect();
}

function writeScript(dir: string, action: string): string {
  const file = path.join(dir, `${action}.sh`);
  writeFileSync(
    file,
    `#!/bin/sh\n# Demo action: a real deployment would promote/demote the database or service here.\n` +
      `echo "$(date -Is) ${action} epoch=$HA_EPOCH operation=$HA_OPERATION_ID" >> "${path.join(dir, 'actions.log')}"\n`,
  );
  chmodSync(file, 0o755);
  return file;
}

async function main(): Promise<void> {
  const adminToken = process.env.ADMIN_TOKEN ?? `demo_${randomBytes(18).toString('base64url')}`;
  let config;
  try {
    config = loadConfig({
      DATABASE_SCHEMA: 'demo',
      REDIS_PREFIX: 'ha-demo',
      HTTP_HOST: '127.0.0.1',
      LOG_LEVEL: 'warn',
      ...process.env,
      ADMIN_TOKEN: adminToken,
    });
  } catch (err) {
    if (err instanceof ConfigError) {
      console.error(err.message);
      process.exit(2);
    }
    throw err;
  }
  await ensureDatabase(config);
  await resetState(config.DATABASE_URL, config.DATABASE_SCHEMA, config.REDIS_URL, config.REDIS_PREFIX);
  const app = await createApp(config);
  await app.listen({ host: config.HTTP_HOST, port: config.HTTP_PORT });
  const base = `http://${config.HTTP_HOST}:${config.HTTP_PORT}`;

  rmSync(WORK, { recursive: true, force: true });
  const agents: ChildProcess[] = [];
  const services: ChildProcess[] = [];
  const created: {
    name: string;
    id: string;
    address: string;
    configFile: string;
    dir: string;
    service: ChildProcess;
  }[] = [];
  for (const n of NODES) {
    const res = await api(base, adminToken, 'POST', '/api/v1/nodes', {
      name: n.name,
      address: n.address,
      agentUrl: `http://${n.address}:${AGENT_PORT}`,
      labels: { site: n.name.endsWith('prod') ? 'paris' : 'lyon' },
    });
    const dir = path.join(WORK, n.name);
    mkdirSync(dir, { recursive: true });
    const actions: Record<string, unknown> = {};
    for (const a of ['promote', 'demote', 'fence', 'resync', 'start-app', 'stop-app']) {
      actions[a] = { command: writeScript(dir, a), args: [], timeoutMs: 10000 };
    }
    // A stand-in for the service the node protects: its watchdog kills it when the lease runs out
    // without renewal (agent frozen or killed), which is what makes lease-expiry fencing safe.
    // Its command line names its directory, so whatever cleans up the demo's directory finds it too.
    const service = spawn(
      process.execPath,
      ['-e', 'setInterval(() => {}, 1 << 30)', path.join(dir, 'service')],
      {
        detached: true,
        stdio: 'ignore',
      },
    );
    service.unref();
    services.push(service);
    const pidFile = path.join(dir, 'service.pid');
    writeFileSync(pidFile, `${service.pid}\n`);
    const configFile = path.join(dir, 'agent.yaml');
    writeFileSync(
      configFile,
      stringify({
        nodeId: res.node.id,
        nodeName: n.name,
        orchestrators: [base],
        token: res.agentToken,
        actionToken: res.actionToken,
        listen: { host: n.address, port: AGENT_PORT },
        heartbeatIntervalMs: 500,
        stateFile: path.join(dir, 'state.json'),
        actions,
        watchdog: { pidFiles: [pidFile] },
        logLevel: 'warn',
      }),
      { mode: 0o600 },
    );
    created.push({ name: n.name, id: res.node.id, address: n.address, configFile, dir, service });
  }
  const startAgent = (n: (typeof created)[number]) => {
    const out = openSync(path.join(n.dir, 'agent.log'), 'a');
    const child = spawn(process.execPath, [...AGENT_NODE_FLAGS, AGENT_MAIN, '--config', n.configFile], {
      stdio: ['ignore', out, out],
    });
    agents.push(child);
    return child;
  };
  const children = created.map(startAgent);

  const scenario = await api(base, adminToken, 'POST', '/api/v1/scenarios', {
    name: 'demo',
    productionNodeId: created[0].id,
    replicaNodeIds: [created[1].id],
    dnsRecords: [{ zone: 'demo.test', name: RECORD, type: 'A', ttl: 5 }],
    failoverMode: 'auto',
    checks: [{ name: 'heartbeat', kind: 'heartbeat', intervalMs: 500, ttlMs: 2000 }],
    policy: { leaseMs: 2500, leaseMarginMs: 300, holdDownMs: 300000, recoveryHoldMs: 10000 },
  });
  // Agents learn their scenario on their next heartbeat; then start protecting it.
  for (let i = 0; ; i++) {
    try {
      await api(base, adminToken, 'POST', `/api/v1/scenarios/${scenario.id}/start`, { reason: 'demo start' });
      break;
    } catch (err) {
      if (i > 20) throw err;
      await new Promise((r) => setTimeout(r, 500));
    }
  }
  for (let i = 0; i < 60; i++) {
    const s = await api(base, adminToken, 'GET', `/api/v1/scenarios/${scenario.id}`);
    if (s.state === 'running') break;
    await new Promise((r) => setTimeout(r, 250));
  }

  const dig = `dig @127.0.0.1 -p ${config.DNS_PORT} ${RECORD} +short`;
  console.log(`
HA orchestrator demo is running.

  API           ${base}/api/v1        (OpenAPI: ${base}/api/openapi.json, docs: ${base}/api/docs)
  admin token   ${adminToken}
  DNS           ${dig}
                → ${created[0].address} (production ${created[0].name}); after a failover → ${created[1].address}

Watch the answer:     watch -n 0.5 '${dig}'
Scenario status:      curl -s -H 'Authorization: Bearer ${adminToken}' ${base}/api/v1/scenarios/${scenario.id}/status
Kill production:      kill -9 ${children[0].pid}        # the production agent (${created[0].name})
                      (its watchdog then kills the protected service, pid ${created[0].service.pid}, at lease expiry)
Freeze production:    kill -STOP ${children[0].pid}     # same outcome: a frozen agent cannot demote, its watchdog does
Operations timeline:  curl -s -H 'Authorization: Bearer ${adminToken}' '${base}/api/v1/operations?scenarioId=${scenario.id}'
Restart old prod:     npm run agent -- --config ${created[0].configFile}   # it comes back demoted
Agent logs/actions:   ${WORK}/<node>/agent.log, actions.log

Ctrl-C stops everything.`);

  const killServices = () => {
    for (const s of services) {
      // Only one still running: a dead one's pid may belong to another process by now.
      if (s.exitCode !== null || s.signalCode !== null) continue;
      try {
        process.kill(-s.pid!, 'SIGKILL');
      } catch {
        /* already gone */
      }
    }
    // Watchdogs outlive their agents on purpose; the demo ends them with everything else.
    for (const n of created) {
      try {
        const pid = Number(readFileSync(path.join(n.dir, 'state.json.watchdog.sock.pid'), 'utf8'));
        if (readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes(n.dir)) process.kill(pid, 'SIGKILL');
      } catch {
        /* none */
      }
    }
  };
  const stop = async () => {
    for (const a of agents) a.kill('SIGTERM');
    await new Promise((r) => setTimeout(r, 500));
    killServices();
    await app.close().catch(() => undefined);
    process.exit(0);
  };
  // However the process ends, the agents it started end with it.
  process.on('exit', () => {
    agents.forEach((a) => a.kill('SIGTERM'));
    killServices();
  });
  process.on('SIGINT', () => void stop());
  process.on('SIGTERM', () => void stop());
}

main().catch((err: Error) => {
  console.error(
    err instanceof DependencyUnavailableError ? err.message : `demo failed: ${err.stack ?? err.message}`,
  );
  process.exit(1);
});
