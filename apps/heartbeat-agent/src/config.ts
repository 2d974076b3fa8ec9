/**
 * The agent's config file (YAML or JSON by extension), validated once at start-up.
 * Defaults live here and only here; README.md documents the schema.
 */
import { readFileSync } from 'node:fs';
import { extname, resolve } from 'node:path';
import { AGENT_ACTIONS, AgentAction, isAgentAction } from '@ha/contracts/roles';
import { BodyValidationError, ConfigError } from './errors';
import { ObjectSchema, Schema, validatePlain } from './validation';

export const CONFIG_DEFAULTS = {
  heartbeatIntervalMs: 1000,
  /** peerTimeoutMs defaults to this many heartbeat intervals. */
  peerTimeoutIntervals: 3,
  defaultLeaseMs: 3000,
  actionTimeoutMs: 30_000,
  checkTimeoutMs: 5000,
  checkIntervalMs: 10_000,
  replicaLagTimeoutMs: 5000,
  /** With UDP heartbeats, a full HTTP heartbeat at least this often (keeps the orchestrator's key). */
  udpFullEveryMs: 10_000,
  logLevel: 'info',
  watchdogSignal: 'SIGKILL',
  watchdogCommandTimeoutMs: 10_000,
  /** A watchdog with no agent connected and nothing to guard exits after this long. */
  watchdogIdleExitMs: 30_000,
} as const;

/** Longest unix socket path Linux accepts (sun_path is 108 bytes with the NUL). */
const MAX_SOCKET_PATH = 107;

const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;
const NAME_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;
const NAME_MESSAGE = 'must be 1-64 characters of letters, digits, ".", "_" or "-"';

const NOT_EMPTY: Schema = { type: 'string', notEmpty: true };
const optionalInt = (minimum: number, maximum: number): Schema => ({
  type: 'integer',
  optional: true,
  minimum,
  maximum,
});

/** A command the agent may run: never a shell line, always command + args. */
interface CommandConfig {
  command: string;
  args?: string[];
  timeoutMs?: number;
}
const COMMAND_PROPERTIES: Record<string, Schema> = {
  command: NOT_EMPTY,
  args: { type: 'array', optional: true, maxItems: 64, items: { type: 'string' } },
  timeoutMs: optionalInt(1, 3_600_000),
};
const COMMAND_SCHEMA: ObjectSchema = { type: 'object', properties: COMMAND_PROPERTIES };

/** An action's command; `batch`: one run serves every scenario asking for this action at once. */
interface ActionCommandConfig extends CommandConfig {
  batch?: boolean;
}
const ACTION_COMMAND_SCHEMA: ObjectSchema = {
  type: 'object',
  properties: { ...COMMAND_PROPERTIES, batch: { type: 'boolean', optional: true } },
};

interface ReplicaLagConfig extends CommandConfig {
  intervalMs?: number;
}

interface CheckConfig extends CommandConfig {
  name: string;
  intervalMs?: number;
}

/**
 * The watchdog (see watchdog/watchdog-main.ts): what it takes down when the lease runs out without
 * renewal. At least one pid file or a command.
 */
interface WatchdogConfig {
  /** Process (group) to kill: the protected service's pid file. */
  pidFiles?: string[];
  /** Run after the kills, e.g. a script that stops the service for good or cuts its network. */
  command?: CommandConfig;
  signal?: 'SIGKILL' | 'SIGTERM';
  /** Unix socket of the watchdog (default: next to the state file). */
  socket?: string;
}

/** The file as written; AGENT_CONFIG_SCHEMA says the same. */
interface AgentConfigFile {
  nodeId: string;
  nodeName: string;
  orchestrators: string[];
  token: string;
  actionToken: string;
  listen: { host: string; port: number };
  heartbeatIntervalMs?: number;
  peerTimeoutMs?: number;
  stateFile?: string;
  /**
   * Send heartbeats as signed UDP datagrams to orchestrators that offer it (their HTTP answer
   * names a udpPort), with an HTTP heartbeat whenever something structural changes and at least
   * every udpFullEveryMs. Off by default.
   */
  udpHeartbeats?: boolean;
  udpFullEveryMs?: number;
  defaultLeaseMs?: number;
  checks?: CheckConfig[];
  /** Checked in parseActions: keys must be AGENT_ACTIONS, values ACTION_COMMAND_SCHEMA. */
  actions?: Record<string, unknown>;
  replicaLag?: ReplicaLagConfig;
  logLevel?: (typeof LOG_LEVELS)[number];
  watchdog?: WatchdogConfig;
}

const AGENT_CONFIG_SCHEMA: ObjectSchema = {
  type: 'object',
  properties: {
    nodeId: { type: 'uuid' },
    nodeName: { type: 'pattern', pattern: NAME_PATTERN, message: NAME_MESSAGE },
    orchestrators: {
      type: 'array',
      minItems: 1,
      maxItems: 16,
      items: { type: 'http-url' },
      itemsMessage: 'must be a list of http(s) base URLs',
    },
    token: { type: 'string', minLength: 8, maxLength: 4096 },
    actionToken: { type: 'string', minLength: 8, maxLength: 4096 },
    listen: {
      type: 'object',
      properties: { host: NOT_EMPTY, port: { type: 'integer', minimum: 0, maximum: 65535 } },
    },
    heartbeatIntervalMs: optionalInt(50, 60_000),
    peerTimeoutMs: optionalInt(1, 3_600_000),
    stateFile: { ...NOT_EMPTY, optional: true },
    udpHeartbeats: { type: 'boolean', optional: true },
    udpFullEveryMs: optionalInt(1000, 60_000),
    defaultLeaseMs: optionalInt(100, 3_600_000),
    checks: {
      type: 'array',
      optional: true,
      maxItems: 64,
      items: {
        type: 'object',
        properties: {
          name: { type: 'pattern', pattern: NAME_PATTERN, message: NAME_MESSAGE },
          ...COMMAND_PROPERTIES,
          intervalMs: optionalInt(100, 86_400_000),
        },
      },
    },
    actions: { type: 'map', optional: true },
    replicaLag: {
      type: 'object',
      optional: true,
      properties: { ...COMMAND_PROPERTIES, intervalMs: optionalInt(100, 3_600_000) },
    },
    logLevel: { type: 'enum', optional: true, values: LOG_LEVELS },
    watchdog: {
      type: 'object',
      optional: true,
      properties: {
        pidFiles: { type: 'array', optional: true, maxItems: 16, items: NOT_EMPTY },
        command: { ...COMMAND_SCHEMA, optional: true },
        signal: { type: 'enum', optional: true, values: ['SIGKILL', 'SIGTERM'] },
        socket: { ...NOT_EMPTY, optional: true },
      },
    },
  },
};

export interface ResolvedWatchdog {
  socket: string;
  logFile: string;
  pidFiles: string[];
  command?: ResolvedCommand;
  signal: 'SIGKILL' | 'SIGTERM';
  idleExitMs: number;
}

export interface ResolvedCommand {
  command: string;
  args: string[];
  timeoutMs: number;
}

export interface ResolvedAction extends ResolvedCommand {
  /**
   * Run once for all scenarios that ask for this action at the same time (a host carrying many
   * scenarios fails over): HA_BATCH_FILE names a JSON file listing them; exit 0 = all succeeded.
   */
  batch: boolean;
}

export interface ResolvedCheck extends ResolvedCommand {
  name: string;
  intervalMs: number;
}

/** The config with every default applied: what the rest of the agent reads. */
export interface AgentConfig {
  nodeId: string;
  nodeName: string;
  orchestrators: string[];
  token: string;
  actionToken: string;
  listen: { host: string; port: number };
  heartbeatIntervalMs: number;
  peerTimeoutMs: number;
  /** present when UDP heartbeats are on */
  udp?: { fullEveryMs: number };
  stateFile: string;
  defaultLeaseMs: number;
  checks: ResolvedCheck[];
  actions: Partial<Record<AgentAction, ResolvedAction>>;
  replicaLag?: ResolvedCommand & { intervalMs: number };
  logLevel: string;
  watchdog?: ResolvedWatchdog;
}

/** Validates a parsed config object and applies defaults. Throws ConfigError naming the field. */
export function parseConfig(raw: unknown): AgentConfig {
  let file: AgentConfigFile;
  try {
    file = validatePlain<AgentConfigFile>(AGENT_CONFIG_SCHEMA, raw, { path: '' });
  } catch (err) {
    if (err instanceof BodyValidationError) {
      throw new ConfigError(err.field === '' ? 'config must be a mapping of fields' : err.message);
    }
    throw err;
  }

  const heartbeatIntervalMs = file.heartbeatIntervalMs ?? CONFIG_DEFAULTS.heartbeatIntervalMs;
  const peerTimeoutMs = file.peerTimeoutMs ?? CONFIG_DEFAULTS.peerTimeoutIntervals * heartbeatIntervalMs;
  if (peerTimeoutMs <= heartbeatIntervalMs) {
    throw new ConfigError('peerTimeoutMs must be greater than heartbeatIntervalMs');
  }
  const defaultLeaseMs = file.defaultLeaseMs ?? CONFIG_DEFAULTS.defaultLeaseMs;
  if (defaultLeaseMs <= heartbeatIntervalMs) {
    throw new ConfigError('defaultLeaseMs must be greater than heartbeatIntervalMs');
  }

  const checks: ResolvedCheck[] = [];
  const seen = new Set<string>();
  (file.checks ?? []).forEach((check, i) => {
    if (seen.has(check.name)) throw new ConfigError(`checks[${i}].name '${check.name}' is used twice`);
    seen.add(check.name);
    checks.push({
      name: check.name,
      command: check.command,
      args: check.args ?? [],
      timeoutMs: check.timeoutMs ?? CONFIG_DEFAULTS.checkTimeoutMs,
      intervalMs: check.intervalMs ?? CONFIG_DEFAULTS.checkIntervalMs,
    });
  });

  const stateFile = resolve(file.stateFile ?? `./${file.nodeName}.agent-state.json`);
  return {
    nodeId: file.nodeId.toLowerCase(),
    nodeName: file.nodeName,
    orchestrators: file.orchestrators.map((url) => url.replace(/\/+$/, '')),
    token: file.token,
    actionToken: file.actionToken,
    listen: { host: file.listen.host, port: file.listen.port },
    heartbeatIntervalMs,
    peerTimeoutMs,
    ...(file.udpHeartbeats === true && {
      udp: { fullEveryMs: file.udpFullEveryMs ?? CONFIG_DEFAULTS.udpFullEveryMs },
    }),
    stateFile,
    defaultLeaseMs,
    checks,
    actions: parseActions(file.actions ?? {}),
    replicaLag: file.replicaLag && {
      command: file.replicaLag.command,
      args: file.replicaLag.args ?? [],
      timeoutMs: file.replicaLag.timeoutMs ?? CONFIG_DEFAULTS.replicaLagTimeoutMs,
      intervalMs: file.replicaLag.intervalMs ?? heartbeatIntervalMs,
    },
    logLevel: file.logLevel ?? CONFIG_DEFAULTS.logLevel,
    watchdog: file.watchdog && parseWatchdog(file.watchdog, stateFile),
  };
}

function parseWatchdog(w: WatchdogConfig, stateFile: string): ResolvedWatchdog {
  const pidFiles = (w.pidFiles ?? []).map((f) => resolve(f));
  if (pidFiles.length === 0 && !w.command) {
    throw new ConfigError('watchdog needs pidFiles or a command: what to take down when the lease expires');
  }
  const socket = resolve(w.socket ?? `${stateFile}.watchdog.sock`);
  if (Buffer.byteLength(socket) > MAX_SOCKET_PATH) {
    throw new ConfigError(
      `watchdog.socket ${socket} is longer than ${MAX_SOCKET_PATH} bytes (a unix socket limit): set a shorter path`,
    );
  }
  return {
    socket,
    logFile: `${socket}.log`,
    pidFiles,
    command: w.command && {
      command: w.command.command,
      args: w.command.args ?? [],
      timeoutMs: w.command.timeoutMs ?? CONFIG_DEFAULTS.watchdogCommandTimeoutMs,
    },
    signal: w.signal ?? CONFIG_DEFAULTS.watchdogSignal,
    idleExitMs: CONFIG_DEFAULTS.watchdogIdleExitMs,
  };
}

function parseActions(raw: Record<string, unknown>): Partial<Record<AgentAction, ResolvedAction>> {
  const actions: Partial<Record<AgentAction, ResolvedAction>> = {};
  for (const [name, value] of Object.entries(raw)) {
    if (!isAgentAction(name)) {
      throw new ConfigError(`actions.${name} is not an agent action (one of: ${AGENT_ACTIONS.join(', ')})`);
    }
    let command: ActionCommandConfig;
    try {
      command = validatePlain<ActionCommandConfig>(ACTION_COMMAND_SCHEMA, value, { path: `actions.${name}` });
    } catch (err) {
      if (err instanceof BodyValidationError) throw new ConfigError(err.message);
      throw err;
    }
    actions[name] = {
      command: command.command,
      args: command.args ?? [],
      timeoutMs: command.timeoutMs ?? CONFIG_DEFAULTS.actionTimeoutMs,
      batch: command.batch === true,
    };
  }
  return actions;
}

/** yaml costs the agent ~7 MB once loaded: only a YAML config file loads it. */
function parseYaml(text: string): unknown {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  return (require('yaml') as typeof import('yaml')).parse(text);
}

/** Reads and validates a config file; YAML unless the extension is .json. */
export function loadConfig(path: string): AgentConfig {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    throw new ConfigError(`cannot read config file ${path}: ${(err as NodeJS.ErrnoException).code ?? err}`);
  }
  let raw: unknown;
  try {
    raw = extname(path).toLowerCase() === '.json' ? JSON.parse(text) : parseYaml(text);
  } catch (err) {
    const reason = (err as Error).message.split('\n')[0];
    throw new ConfigError(
      `config file ${path} is not valid ${extname(path) === '.json' ? 'JSON' : 'YAML'}: ${reason}`,
    );
  }
  return parseConfig(raw);
}
