/**
 * Test helpers for the heartbeat agent: spawn the REAL built agent process, a fake orchestrator
 * endpoint that captures heartbeats and answers with assignments, and small utilities.
 * No jest globals here (this file is also compiled by the build).
 */
import 'reflect-metadata';
import { ChildProcess, execFileSync, spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { chmodSync, existsSync, readFileSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { IncomingMessage, Server, ServerResponse, createServer } from 'node:http';
import { dirname, join } from 'node:path';
import { plainToInstance } from 'class-transformer';
import { validateSync } from 'class-validator';
import { AGENT_NODE_FLAGS, HeartbeatRequest, HeartbeatResponse, ScenarioAssignment } from '@ha/contracts';

function findRepoRoot(start: string): string {
  let dir = start;
  while (!existsSync(join(dir, 'package.json')) || !existsSync(join(dir, 'apps'))) {
    const parent = dirname(dir);
    if (parent === dir) throw new Error(`no repository root above ${start}`);
    dir = parent;
  }
  return dir;
}

export const REPO_ROOT = findRepoRoot(__dirname);
export const AGENT_MAIN = join(REPO_ROOT, 'dist/apps/heartbeat-agent/src/main.js');

function newestSource(dir: string): number {
  let newest = 0;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) newest = Math.max(newest, newestSource(path));
    else if (entry.name.endsWith('.ts') && !entry.name.endsWith('.spec.ts'))
      newest = Math.max(newest, statSync(path).mtimeMs);
  }
  return newest;
}

/** dist files of the agent that still require a path alias (tsc ran, tsc-alias did not). */
function unaliasedAgentFiles(): string[] {
  const dir = dirname(AGENT_MAIN);
  if (!existsSync(dir)) return [];
  return readdirSync(dir)
    .filter((f) => f.endsWith('.js'))
    .filter((f) => readFileSync(join(dir, f), 'utf8').includes('require("@ha/'));
}

/**
 * Builds when dist is missing or older than the agent's sources (`npm test` builds first, so this
 * is only a convenience for running one file). Type errors elsewhere in the repository do not stop
 * tsc from emitting, but they stop `tsc && tsc-alias`: unaliased output is repaired here too.
 */
export function ensureAgentBuilt(): void {
  const sources = Math.max(
    newestSource(join(REPO_ROOT, 'apps/heartbeat-agent/src')),
    newestSource(join(REPO_ROOT, 'libs/contracts/src')),
  );
  if (!existsSync(AGENT_MAIN) || statSync(AGENT_MAIN).mtimeMs < sources) {
    runQuietly([join(REPO_ROOT, 'node_modules/typescript/bin/tsc'), '-p', 'tsconfig.build.json']);
  }
  repairAliases();
  if (!existsSync(AGENT_MAIN)) throw new Error(`build did not produce ${AGENT_MAIN}`);
  const unaliased = unaliasedAgentFiles();
  if (unaliased.length > 0) throw new Error(`dist still requires path aliases in ${unaliased.join(', ')}`);
}

function runQuietly(args: string[]): void {
  try {
    execFileSync(process.execPath, args, { cwd: REPO_ROOT, stdio: 'pipe' });
  } catch {
    // tsc exits non-zero on type errors but still emits; callers check the output.
  }
}

/**
 * Others share this checkout: a build of theirs (`tsc && tsc-alias`) may be between its two halves,
 * or stopped after tsc on a type error. Rewrite the aliases ourselves when dist needs it.
 */
function repairAliases(): void {
  if (unaliasedAgentFiles().length > 0) {
    runQuietly([join(REPO_ROOT, 'node_modules/tsc-alias/dist/bin/index.js'), '-p', 'tsconfig.build.json']);
  }
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Polls until `predicate` returns a truthy value, which is returned. */
export async function waitFor<T>(
  predicate: () => T | undefined | null | false | Promise<T | undefined | null | false>,
  options: { timeoutMs?: number; intervalMs?: number; what?: string } = {},
): Promise<T> {
  const deadline = Date.now() + (options.timeoutMs ?? 10_000);
  for (;;) {
    const value = await predicate();
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${options.what ?? 'condition'}`);
    await sleep(options.intervalMs ?? 50);
  }
}

/** Writes an executable /bin/sh script and returns its path. */
export function writeScript(dir: string, name: string, body: string): string {
  const path = join(dir, name);
  writeFileSync(path, `#!/bin/sh\n${body}\n`);
  chmodSync(path, 0o755);
  return path;
}

export interface HttpResult<T = unknown> {
  status: number;
  body: T;
  headers: Headers;
}

/** POST with full control over token, content type and raw body. */
export async function postJson<T = unknown>(
  url: string,
  body: unknown,
  options: { token?: string; contentType?: string; raw?: string | Buffer; timeoutMs?: number } = {},
): Promise<HttpResult<T>> {
  const headers: Record<string, string> = { 'content-type': options.contentType ?? 'application/json' };
  if (options.token !== undefined) headers.authorization = `Bearer ${options.token}`;
  const res = await fetch(url, {
    method: 'POST',
    headers,
    body: options.raw ?? JSON.stringify(body),
    signal: AbortSignal.timeout(options.timeoutMs ?? 15_000),
  });
  const text = await res.text();
  return { status: res.status, body: (text ? JSON.parse(text) : undefined) as T, headers: res.headers };
}

export async function getJson<T = unknown>(url: string, token?: string): Promise<HttpResult<T>> {
  const res = await fetch(url, {
    headers: token ? { authorization: `Bearer ${token}` } : {},
    signal: AbortSignal.timeout(5000),
  });
  const text = await res.text();
  return { status: res.status, body: (text ? JSON.parse(text) : undefined) as T, headers: res.headers };
}

// ---------------------------------------------------------------------------------------------
// The real agent process
// ---------------------------------------------------------------------------------------------

export interface AgentExit {
  code: number | null;
  signal: NodeJS.Signals | null;
}

export class AgentProcess {
  readonly stdoutLines: string[] = [];
  stderr = '';
  readonly exited: Promise<AgentExit>;
  private exit: AgentExit | undefined;
  private buffer = '';

  constructor(
    private readonly child: ChildProcess,
    readonly configFile: string,
    readonly url: string,
  ) {
    child.stdout?.setEncoding('utf8');
    child.stdout?.on('data', (chunk: string) => {
      this.buffer += chunk;
      const lines = this.buffer.split('\n');
      this.buffer = lines.pop() ?? '';
      this.stdoutLines.push(...lines.filter((l) => l.length > 0));
    });
    child.stderr?.setEncoding('utf8');
    child.stderr?.on('data', (chunk: string) => (this.stderr += chunk));
    this.exited = new Promise((resolve) =>
      child.once('exit', (code, signal) => {
        this.exit = { code, signal };
        resolve(this.exit);
      }),
    );
  }

  get pid(): number {
    return this.child.pid!;
  }

  get running(): boolean {
    return this.exit === undefined;
  }

  /** Parsed JSON log lines (non-JSON lines are skipped). */
  logs(): Array<Record<string, unknown>> {
    return this.stdoutLines.flatMap((line) => {
      try {
        return [JSON.parse(line) as Record<string, unknown>];
      } catch {
        return [];
      }
    });
  }

  waitForLog(
    predicate: (log: Record<string, unknown>) => boolean,
    timeoutMs = 10_000,
  ): Promise<Record<string, unknown>> {
    return waitFor(() => this.logs().find(predicate), { timeoutMs, what: 'agent log line' });
  }

  signal(signal: NodeJS.Signals): void {
    if (this.running) this.child.kill(signal);
  }

  /** SIGTERM, then SIGKILL if it has not exited after `graceMs`. */
  async stop(graceMs = 5000): Promise<AgentExit> {
    if (!this.running) return this.exit!;
    this.child.kill('SIGTERM');
    const timer = setTimeout(() => this.child.kill('SIGKILL'), graceMs);
    const exit = await this.exited;
    clearTimeout(timer);
    return exit;
  }

  async kill(): Promise<AgentExit> {
    if (this.running) this.child.kill('SIGKILL');
    return this.exited;
  }
}

/** Spawns agents and remembers every one, so afterAll/afterEach can always kill them all. */
export class AgentFleet {
  private readonly agents: AgentProcess[] = [];

  /**
   * Writes `config` to `<dir>/<name>.json` (or .yaml text when `yamlText` is given) and starts the
   * built agent. Waits for GET /healthz unless `waitReady` is false.
   */
  async spawn(options: {
    dir: string;
    name: string;
    config?: Record<string, unknown>;
    yamlText?: string;
    waitReady?: boolean;
  }): Promise<AgentProcess> {
    const configFile = join(
      options.dir,
      `${options.name}.${options.yamlText !== undefined ? 'yaml' : 'json'}`,
    );
    writeFileSync(configFile, options.yamlText ?? JSON.stringify(options.config, null, 2));
    const listen = (options.config?.listen ?? {}) as { host?: string; port?: number };
    const url = `http://${listen.host ?? '127.0.0.1'}:${listen.port ?? 0}`;
    const start = (): AgentProcess => {
      repairAliases();
      const child = spawn(process.execPath, [...AGENT_NODE_FLAGS, AGENT_MAIN, '--config', configFile], {
        cwd: options.dir,
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      const started = new AgentProcess(child, configFile, url);
      this.agents.push(started);
      return started;
    };
    let agent = start();
    // A concurrent build of someone else can leave dist unaliased for a moment: repair and retry once.
    const early = await Promise.race([agent.exited, sleep(300).then(() => undefined)]);
    if (early && agent.stderr.includes("Cannot find module '@ha/")) agent = start();
    if (options.waitReady !== false) {
      await waitFor(
        async () => {
          if (!agent.running) throw new Error(`agent ${options.name} exited at start: ${agent.stderr}`);
          try {
            return (await fetch(`${url}/healthz`, { signal: AbortSignal.timeout(500) })).ok;
          } catch {
            return false;
          }
        },
        { timeoutMs: 10_000, what: `agent ${options.name} to listen on ${url}` },
      );
    }
    return agent;
  }

  /** Stops every agent still running (SIGTERM, SIGKILL after 3 s), then kills their watchdogs. */
  async stopAll(): Promise<void> {
    await Promise.all(this.agents.map((a) => a.stop(3000)));
    for (const a of this.agents) killWatchdogOf(a.configFile);
  }
}

/**
 * An agent's watchdog outlives the agent on purpose (it must still fire after a kill -9); tests
 * kill it themselves. Its pid is in `<socket>.pid`, the socket next to the state file by default.
 */
export function killWatchdogOf(configFile: string): void {
  try {
    const config = JSON.parse(readFileSync(configFile, 'utf8')) as {
      stateFile?: string;
      watchdog?: { socket?: string };
    };
    if (!config.watchdog) return;
    const socket = config.watchdog.socket ?? `${config.stateFile}.watchdog.sock`;
    const pid = Number.parseInt(readFileSync(`${socket}.pid`, 'utf8'), 10);
    // pid files outlive their process and pids are recycled (pid_max is small here): only a
    // process that is this very watchdog gets the signal, never whoever holds the number now.
    const cmdline = readFileSync(`/proc/${pid}/cmdline`, 'utf8');
    if (pid > 1 && cmdline.includes('watchdog-main.js') && cmdline.includes(socket))
      process.kill(pid, 'SIGKILL');
  } catch {
    // no config (YAML), no watchdog, or it already exited
  }
}

/**
 * A stand-in for the service an agent protects: a process group leader with a pid file (what the
 * watchdog kills). With `beatMs` it appends its CLOCK_REALTIME nanoseconds to `live.log` that
 * often, so a test can tell to the beat when it stopped serving.
 */
export class ProtectedService {
  readonly pidFile: string;
  readonly liveFile: string;
  private child: ChildProcess | undefined;
  private exited = false;

  constructor(
    readonly dir: string,
    private readonly options: { beatMs?: number; name?: string } = {},
  ) {
    const name = options.name ?? 'service';
    this.pidFile = join(dir, `${name}.pid`);
    this.liveFile = join(dir, `${name === 'service' ? 'live' : `${name}.live`}.log`);
  }

  start(): void {
    const script = this.options.beatMs
      ? `while :; do date +%s%N >> '${this.liveFile}'; sleep ${this.options.beatMs / 1000}; done`
      : 'exec sleep 2147483';
    this.child = spawn('/bin/sh', ['-c', script], { detached: true, stdio: 'ignore' });
    this.child.once('exit', () => (this.exited = true));
    this.child.unref();
    writeFileSync(this.pidFile, `${this.child.pid}\n`);
  }

  get pid(): number | undefined {
    return this.child?.pid;
  }

  /** Whether the process (group leader) still exists. */
  alive(): boolean {
    if (!this.child?.pid || this.exited) return false;
    try {
      process.kill(this.child.pid, 0);
      return true;
    } catch {
      return false;
    }
  }

  /** Liveness beats written so far, as BigInt nanoseconds since 1970. */
  beats(): bigint[] {
    if (!existsSync(this.liveFile)) return [];
    return readFileSync(this.liveFile, 'utf8')
      .split('\n')
      .filter((l) => /^\d+$/.test(l))
      .map((l) => BigInt(l));
  }

  /** Kills its process group, unless it is gone already (its pid may belong to someone else now). */
  stop(): void {
    if (!this.child?.pid || this.exited) return;
    try {
      process.kill(-this.child.pid, 'SIGKILL');
    } catch {
      // already gone
    }
  }
}

// ---------------------------------------------------------------------------------------------
// A fake orchestrator endpoint
// ---------------------------------------------------------------------------------------------

export interface ReceivedHeartbeat {
  body: HeartbeatRequest;
  authorization: string | undefined;
  receivedAt: number;
  /** class-validator's complaint about the body, if any (should always be undefined). */
  invalid?: string;
}

export class FakeOrchestrator {
  readonly heartbeats: ReceivedHeartbeat[] = [];
  /** Assignments returned to a node on each heartbeat. */
  assignments: (nodeId: string) => ScenarioAssignment[] = () => [];
  /** Delay before answering (a slow orchestrator); 'hang' never answers. */
  delayMs: number | 'hang' = 0;
  statusCode = 200;
  /** answer with an assignmentVersion and leave unchanged assignments out, like the orchestrator */
  versioned = false;
  inFlight = 0;
  maxInFlight = 0;
  private server: Server | undefined;
  private readonly hanging = new Set<ServerResponse>();

  constructor(
    readonly host: string,
    readonly port: number,
  ) {}

  get url(): string {
    return `http://${this.host}:${this.port}`;
  }

  start(): Promise<void> {
    const server = createServer((req, res) => void this.handle(req, res));
    this.server = server;
    return new Promise((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.port, this.host, () => resolve());
    });
  }

  async stop(): Promise<void> {
    const server = this.server;
    if (!server) return;
    this.server = undefined;
    for (const res of this.hanging) res.destroy();
    this.hanging.clear();
    await new Promise<void>((resolve) => {
      server.close(() => resolve());
      server.closeAllConnections();
    });
  }

  from(nodeId: string): ReceivedHeartbeat[] {
    return this.heartbeats.filter((h) => h.body.nodeId === nodeId);
  }

  waitForHeartbeat(
    predicate: (h: ReceivedHeartbeat) => boolean,
    timeoutMs = 10_000,
  ): Promise<ReceivedHeartbeat> {
    return waitFor(() => this.heartbeats.find(predicate), { timeoutMs, what: 'a matching heartbeat' });
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    if (req.method !== 'POST' || req.url !== '/api/v1/heartbeats') {
      res.writeHead(404).end();
      return;
    }
    this.inFlight++;
    this.maxInFlight = Math.max(this.maxInFlight, this.inFlight);
    res.once('close', () => this.inFlight--);
    try {
      const chunks: Buffer[] = [];
      for await (const chunk of req) chunks.push(chunk as Buffer);
      const plain = JSON.parse(Buffer.concat(chunks).toString('utf8')) as HeartbeatRequest;
      const errors = validateSync(plainToInstance(HeartbeatRequest, plain), {
        whitelist: true,
        forbidNonWhitelisted: true,
      });
      this.heartbeats.push({
        body: plain,
        authorization: req.headers.authorization,
        receivedAt: Date.now(),
        invalid: errors.length > 0 ? errors.map((e) => e.toString()).join('; ') : undefined,
      });
      if (this.delayMs === 'hang') {
        this.hanging.add(res);
        res.once('close', () => this.hanging.delete(res));
        return;
      }
      if (this.delayMs > 0) await sleep(this.delayMs);
      const scenarios = this.assignments(plain.nodeId);
      const response: HeartbeatResponse = { nodeId: plain.nodeId, serverTime: Date.now(), scenarios };
      if (this.versioned) {
        // As the orchestrator does: a digest, and the list left out while the agent holds it.
        const version = createHash('sha256')
          .update(JSON.stringify(scenarios))
          .digest('base64url')
          .slice(0, 32);
        response.assignmentVersion = version;
        if ((plain as { assignmentVersion?: string }).assignmentVersion === version)
          delete response.scenarios;
      }
      res.writeHead(this.statusCode, { 'content-type': 'application/json' }).end(JSON.stringify(response));
    } catch {
      if (!res.headersSent) res.writeHead(400).end();
    }
  }
}
