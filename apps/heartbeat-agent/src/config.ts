/**
 * The agent's config file (YAML or JSON by extension), validated once at start-up.
 * Defaults live here and only here; README.md documents the schema.
 */
import 'reflect-metadata';
import { readFileSync } from 'node:fs';
import { extname, resolve } from 'node:path';
import { Type } from 'class-transformer';
import {
  ArrayMaxSize,
  ArrayMinSize,
  IsArray,
  IsIn,
  IsInt,
  IsNotEmpty,
  IsObject,
  IsOptional,
  IsString,
  IsUrl,
  IsUUID,
  Matches,
  Max,
  MaxLength,
  Min,
  MinLength,
  ValidateNested,
} from 'class-validator';
import { parse as parseYaml } from 'yaml';
import { AGENT_ACTIONS, AgentAction, isAgentAction } from '@ha/contracts';
import { BodyValidationError, ConfigError } from './errors';
import { validatePlain } from './validation';

export const CONFIG_DEFAULTS = {
  heartbeatIntervalMs: 1000,
  /** peerTimeoutMs defaults to this many heartbeat intervals. */
  peerTimeoutIntervals: 3,
  defaultLeaseMs: 3000,
  actionTimeoutMs: 30_000,
  checkTimeoutMs: 5000,
  checkIntervalMs: 10_000,
  replicaLagTimeoutMs: 5000,
  logLevel: 'info',
} as const;

const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;
const NAME_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;

export class ListenConfig {
  @IsString()
  @IsNotEmpty()
  host: string;

  @IsInt()
  @Min(0)
  @Max(65535)
  port: number;
}

/** A command the agent may run: never a shell line, always command + args. */
export class CommandConfig {
  @IsString()
  @IsNotEmpty()
  command: string;

  @IsOptional()
  @IsArray()
  @ArrayMaxSize(64)
  @IsString({ each: true })
  args?: string[];

  @IsOptional()
  @IsInt()
  @Min(1)
  @Max(3_600_000)
  timeoutMs?: number;
}

export class ReplicaLagConfig extends CommandConfig {
  @IsOptional()
  @IsInt()
  @Min(100)
  @Max(3_600_000)
  intervalMs?: number;
}

export class CheckConfig extends CommandConfig {
  @Matches(NAME_PATTERN, { message: 'name must be 1-64 characters of letters, digits, ".", "_" or "-"' })
  name: string;

  @IsOptional()
  @IsInt()
  @Min(100)
  @Max(86_400_000)
  intervalMs?: number;
}

export class AgentConfigFile {
  @IsUUID()
  nodeId: string;

  @Matches(NAME_PATTERN, { message: 'nodeName must be 1-64 characters of letters, digits, ".", "_" or "-"' })
  nodeName: string;

  @IsArray()
  @ArrayMinSize(1)
  @ArrayMaxSize(16)
  @IsUrl(
    { require_tld: false, require_protocol: true, protocols: ['http', 'https'] },
    { each: true, message: 'orchestrators must be a list of http(s) base URLs' },
  )
  orchestrators: string[];

  @IsString()
  @MinLength(8)
  @MaxLength(4096)
  token: string;

  @IsString()
  @MinLength(8)
  @MaxLength(4096)
  actionToken: string;

  @ValidateNested()
  @Type(() => ListenConfig)
  listen: ListenConfig;

  @IsOptional()
  @IsInt()
  @Min(50)
  @Max(60_000)
  heartbeatIntervalMs?: number;

  @IsOptional()
  @IsInt()
  @Min(1)
  @Max(3_600_000)
  peerTimeoutMs?: number;

  @IsOptional()
  @IsString()
  @IsNotEmpty()
  stateFile?: string;

  @IsOptional()
  @IsInt()
  @Min(100)
  @Max(3_600_000)
  defaultLeaseMs?: number;

  @IsOptional()
  @IsArray()
  @ArrayMaxSize(64)
  @ValidateNested({ each: true })
  @Type(() => CheckConfig)
  checks?: CheckConfig[];

  /** Validated by hand below: keys must be AGENT_ACTIONS, values CommandConfig. */
  @IsOptional()
  @IsObject()
  actions?: Record<string, unknown>;

  @IsOptional()
  @ValidateNested()
  @Type(() => ReplicaLagConfig)
  replicaLag?: ReplicaLagConfig;

  @IsOptional()
  @IsIn(LOG_LEVELS)
  logLevel?: (typeof LOG_LEVELS)[number];
}

export interface ResolvedCommand {
  command: string;
  args: string[];
  timeoutMs: number;
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
  stateFile: string;
  defaultLeaseMs: number;
  checks: ResolvedCheck[];
  actions: Partial<Record<AgentAction, ResolvedCommand>>;
  replicaLag?: ResolvedCommand & { intervalMs: number };
  logLevel: string;
}

/** Validates a parsed config object and applies defaults. Throws ConfigError naming the field. */
export function parseConfig(raw: unknown): AgentConfig {
  let file: AgentConfigFile;
  try {
    file = validatePlain(AgentConfigFile, raw, { path: '' });
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

  return {
    nodeId: file.nodeId.toLowerCase(),
    nodeName: file.nodeName,
    orchestrators: file.orchestrators.map((url) => url.replace(/\/+$/, '')),
    token: file.token,
    actionToken: file.actionToken,
    listen: { host: file.listen.host, port: file.listen.port },
    heartbeatIntervalMs,
    peerTimeoutMs,
    stateFile: resolve(file.stateFile ?? `./${file.nodeName}.agent-state.json`),
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
  };
}

function parseActions(raw: Record<string, unknown>): Partial<Record<AgentAction, ResolvedCommand>> {
  const actions: Partial<Record<AgentAction, ResolvedCommand>> = {};
  for (const [name, value] of Object.entries(raw)) {
    if (!isAgentAction(name)) {
      throw new ConfigError(`actions.${name} is not an agent action (one of: ${AGENT_ACTIONS.join(', ')})`);
    }
    let command: CommandConfig;
    try {
      command = validatePlain(CommandConfig, value, { path: `actions.${name}` });
    } catch (err) {
      if (err instanceof BodyValidationError) throw new ConfigError(err.message);
      throw err;
    }
    actions[name] = {
      command: command.command,
      args: command.args ?? [],
      timeoutMs: command.timeoutMs ?? CONFIG_DEFAULTS.actionTimeoutMs,
    };
  }
  return actions;
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
