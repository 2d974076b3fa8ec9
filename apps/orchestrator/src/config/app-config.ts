/**
 * The orchestrator's one typed config, read from the environment and validated once at start-up.
 * A bad value exits the process with one line naming the variable (see main.ts).
 */
import { plainToInstance, Transform } from 'class-transformer';
import {
  IsIn,
  IsInt,
  IsOptional,
  IsString,
  Matches,
  Max,
  Min,
  MinLength,
  validateSync,
} from 'class-validator';

export const ORCHESTRATOR_ROLES = ['api', 'detector', 'worker', 'dns'] as const;
const parsedRoles = new WeakMap<object, Set<OrchestratorRole>>();
const rolesSource = new WeakMap<object, string>();
export type OrchestratorRole = (typeof ORCHESTRATOR_ROLES)[number];

const toInt = ({ value }: { value: unknown }) =>
  typeof value === 'string' && /^-?\d+$/.test(value.trim()) ? Number(value) : value;

export class AppConfig {
  @IsString()
  @Matches(/^postgres(ql)?:\/\//, { message: 'must be a postgres:// URL' })
  DATABASE_URL = 'postgres://postgres@127.0.0.1:5432/ha';

  /** Schema for all tables; tests give each file its own. */
  @IsString()
  @Matches(/^[a-z_][a-z0-9_]{0,62}$/, { message: 'must be a lower-case SQL identifier' })
  DATABASE_SCHEMA = 'public';

  /** PostgreSQL connections this process keeps at most (TypeORM's pg pool). */
  @Transform(toInt)
  @IsInt()
  @Min(2)
  @Max(200)
  DATABASE_POOL_SIZE = 10;

  /** redis://host:port[/db], rediss:// (TLS), or redis+sentinel://s1:26379,s2:26379/<master>[/db] */
  @IsString()
  @Matches(/^(rediss?:\/\/|redis\+sentinel:\/\/[^/]+\/[^/]+)/, {
    message: 'must be a redis:// URL or redis+sentinel://host:port[,host:port…]/<master name>',
  })
  REDIS_URL = 'redis://127.0.0.1:6379';

  /** Prefix of every Redis key (BullMQ queues, pub/sub channels); tests give each file its own. */
  @IsString()
  @Matches(/^[A-Za-z0-9:_-]{1,64}$/, { message: 'must be 1-64 chars of A-Z a-z 0-9 : _ -' })
  REDIS_PREFIX = 'ha';

  /**
   * A command on the orchestrator's own Redis connections (membership, leader lease, storm brake,
   * heartbeat flushes) that gets no answer within this is rejected. Without it a command can wait
   * in ioredis' offline queue for as long as a half-open connection lasts (a proxy or load balancer
   * that accepts and drops), and the work behind it (a membership renewal: the right to act) with
   * it. BullMQ's connections are not bounded (they block by design).
   */
  @Transform(toInt)
  @IsInt()
  @Min(100)
  @Max(60_000)
  REDIS_COMMAND_TIMEOUT_MS = 2000;

  @IsString()
  HTTP_HOST = '0.0.0.0';

  @Transform(toInt)
  @IsInt()
  @Min(0)
  @Max(65535)
  HTTP_PORT = 8080;

  @IsString()
  DNS_HOST = '127.0.0.1';

  @Transform(toInt)
  @IsInt()
  @Min(0)
  @Max(65535)
  DNS_PORT = 5353;

  /** embedded (default), rfc2136 or powerdns */
  @IsIn(['embedded', 'rfc2136', 'powerdns'])
  DNS_PROVIDER = 'embedded';

  @IsOptional()
  @IsString()
  RFC2136_SERVER?: string;

  @Transform(toInt)
  @IsInt()
  @Min(1)
  @Max(65535)
  RFC2136_PORT = 53;

  @IsOptional()
  @IsString()
  RFC2136_KEY_NAME?: string;

  @IsOptional()
  @IsString()
  RFC2136_KEY_SECRET?: string;

  /** PowerDNS Authoritative HTTP API base URL (the part before /api/v1) when DNS_PROVIDER=powerdns. */
  @IsOptional()
  @IsString()
  @Matches(/^https?:\/\/[^\s/?#@]+(\/[^\s?#@]*)?$/, {
    message: 'must be an http(s) URL without credentials, query or fragment',
  })
  PDNS_API_URL?: string;

  /** Sent as X-API-Key; a secret: never logged, never in an error message. */
  @IsOptional()
  @IsString()
  @Matches(/^[\x21-\x7e]+$/, { message: 'must be printable ASCII without spaces' })
  PDNS_API_KEY?: string;

  @IsString()
  @Matches(/^[A-Za-z0-9._-]{1,64}$/, { message: 'must be 1-64 chars of A-Z a-z 0-9 . _ -' })
  PDNS_SERVER_ID = 'localhost';

  /** host:port ([v6]:port) of the PowerDNS DNS listener that verify-dns asks, like a user's resolver would. */
  @IsOptional()
  @IsString()
  @Matches(/^(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9.-]+):\d{1,5}$/, { message: 'must be host:port or [ipv6]:port' })
  PDNS_QUERY_SERVER?: string;

  /** Each PowerDNS API request and each DNS query to PDNS_QUERY_SERVER gives up after this. */
  @Transform(toInt)
  @IsInt()
  @Min(100)
  @Max(60_000)
  PDNS_TIMEOUT_MS = 3000;

  /** Bootstrap admin token (at least 16 chars). Without it, the API has no admin until one is created. */
  @IsOptional()
  @IsString()
  @MinLength(16, { message: 'must be at least 16 characters' })
  ADMIN_TOKEN?: string;

  @IsIn(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'])
  LOG_LEVEL = 'info';

  /** Comma-separated subset of api,detector,worker,dns. */
  @IsString()
  @Matches(/^(api|detector|worker|dns)(,(api|detector|worker|dns))*$/, {
    message: 'must be a comma-separated subset of api,detector,worker,dns',
  })
  ORCHESTRATOR_ROLES = 'api,detector,worker,dns';

  /** Run pending migrations at start-up. */
  @IsIn(['true', 'false'])
  MIGRATE_ON_START = 'true';

  /**
   * How ping checks run: `fping` batches the probes due together into one fping process (it must
   * be installed), `ping` runs one ping process per probe, `auto` uses fping when it is on PATH.
   */
  @IsIn(['auto', 'fping', 'ping'])
  PING_MODE: 'auto' | 'fping' | 'ping' = 'auto';

  /** Detector evaluation tick. */
  @Transform(toInt)
  @IsInt()
  @Min(50)
  @Max(10000)
  DETECTOR_TICK_MS = 250;

  /**
   * UDP heartbeats (signed datagrams, see libs/contracts/src/udp-heartbeat.ts) on this port; 0 = off.
   * Agents with `udpHeartbeats: true` use it once an HTTP answer names it.
   */
  @Transform(toInt)
  @IsInt()
  @Min(0)
  @Max(65535)
  HEARTBEAT_UDP_PORT = 0;

  /** Address the UDP heartbeat socket binds; empty = HTTP_HOST. */
  @IsString()
  HEARTBEAT_UDP_HOST = '';

  /**
   * Share detection across the detector instances (each evaluates its owned and backup nodes, acts
   * for its owned ones; agents are told their owners). false = every instance evaluates every node
   * and the detector leader acts.
   */
  @IsIn(['true', 'false'])
  DETECTOR_SHARDING = 'true';

  /** The URL agents reach this instance at (told to the agents it owns). Empty = host and port it listens on. */
  @IsOptional()
  @Matches(/^(|https?:\/\/\S+)$/, { message: 'must be an http(s) URL' })
  ORCHESTRATOR_URL = '';

  /** How often in-memory heartbeat state is flushed to PostgreSQL (bounded write rate). */
  @Transform(toInt)
  @IsInt()
  @Min(100)
  @Max(60000)
  HEARTBEAT_FLUSH_MS = 2000;

  /** BullMQ lock duration for operation step jobs: a crashed worker's job is taken over after ~this. */
  @Transform(toInt)
  @IsInt()
  @Min(1000)
  @Max(600000)
  WORKER_LOCK_MS = 2000;

  @Transform(toInt)
  @IsInt()
  @Min(1)
  @Max(1024)
  WORKER_CONCURRENCY = 8;

  /** Largest accepted request body. */
  @Transform(toInt)
  @IsInt()
  @Min(1024)
  @Max(10 * 1024 * 1024)
  BODY_LIMIT_BYTES = 256 * 1024;

  /** Request JSON (body, query, path) nested deeper than this is refused before validation (400). */
  @Transform(toInt)
  @IsInt()
  @Min(4)
  @Max(256)
  MAX_JSON_DEPTH = 32;

  /** Longest array accepted anywhere in a request body. */
  @Transform(toInt)
  @IsInt()
  @Min(16)
  @Max(1_000_000)
  MAX_JSON_ARRAY_LENGTH = 10_000;

  /** Longest string (value or key) accepted anywhere in a request; NUL and lone surrogates never are. */
  @Transform(toInt)
  @IsInt()
  @Min(256)
  @Max(10 * 1024 * 1024)
  MAX_JSON_STRING_LENGTH = 65_536;

  /**
   * Storm brake: more than this many failure incidents (failed nodes whose scenarios were failed over
   * automatically; one host with many scenarios is one) within STORM_WINDOW_MS pause automatic action.
   */
  @Transform(toInt)
  @IsInt()
  @Min(1)
  @Max(1000)
  STORM_MAX_FAILOVERS = 3;

  @Transform(toInt)
  @IsInt()
  @Min(1000)
  @Max(86_400_000)
  STORM_WINDOW_MS = 600_000;

  /** Comma-separated http(s) URLs that receive event webhooks (operations, alerts). Empty = none. */
  @IsString()
  @Matches(/^(|https?:\/\/[^\s,]+(,https?:\/\/[^\s,]+)*)$/, {
    message: 'must be comma-separated http(s) URLs',
  })
  WEBHOOK_URLS = '';

  /** Signs each webhook body: header X-HA-Signature: sha256=<hex HMAC of the body>. */
  @IsOptional()
  @IsString()
  @MinLength(16, { message: 'must be at least 16 characters' })
  WEBHOOK_SECRET?: string;

  /**
   * A firing external alert (alerts/) not sent again within this many seconds expires and stops
   * counting against its node. Keep Alertmanager's repeat_interval below it (default 4 h).
   */
  @Transform(toInt)
  @IsInt()
  @Min(2)
  @Max(7 * 86_400)
  ALERTS_FIRING_TTL_S = 6 * 3600;

  /** Parsed once: hot paths ask (per node and tick). The config does not change after start-up. */
  get roles(): Set<OrchestratorRole> {
    let roles = parsedRoles.get(this);
    if (!roles || rolesSource.get(this) !== this.ORCHESTRATOR_ROLES) {
      roles = new Set(this.ORCHESTRATOR_ROLES.split(',') as OrchestratorRole[]);
      parsedRoles.set(this, roles);
      rolesSource.set(this, this.ORCHESTRATOR_ROLES);
    }
    return roles;
  }

  get isDefaultLocalDatabase(): boolean {
    return /^postgres(ql)?:\/\/[^@/]*@?(127\.0\.0\.1|localhost)(:\d+)?\//.test(this.DATABASE_URL);
  }
}

export class ConfigError extends Error {
  constructor(
    readonly variable: string,
    detail: string,
  ) {
    super(`invalid configuration: ${variable} ${detail}`);
  }
}

/** Parse and validate; throws ConfigError naming the first bad variable. */
export function loadConfig(env: NodeJS.ProcessEnv = process.env): AppConfig {
  const defaults = new AppConfig();
  const raw: Record<string, unknown> = {};
  for (const key of Object.keys(defaults) as (keyof AppConfig)[]) {
    const value = env[key as string];
    if (value !== undefined && value !== '') raw[key as string] = value;
  }
  for (const key of [
    'RFC2136_SERVER',
    'RFC2136_KEY_NAME',
    'RFC2136_KEY_SECRET',
    'PDNS_API_URL',
    'PDNS_API_KEY',
    'PDNS_QUERY_SERVER',
    'ADMIN_TOKEN',
    'WEBHOOK_SECRET',
  ]) {
    if (env[key]) raw[key] = env[key];
  }
  const config = plainToInstance(AppConfig, { ...defaults, ...raw });
  const errors = validateSync(config, { forbidUnknownValues: false });
  if (errors.length > 0) {
    const first = errors[0];
    const constraints = first.constraints ?? {};
    // A type error explains more than a range error on a value of the wrong type.
    const detail = constraints.isInt ?? Object.values(constraints)[0] ?? 'is invalid';
    throw new ConfigError(first.property, detail.replace(new RegExp(`^${first.property}\\s*`), ''));
  }
  if (config.DNS_PROVIDER === 'rfc2136') {
    for (const key of ['RFC2136_SERVER', 'RFC2136_KEY_NAME', 'RFC2136_KEY_SECRET'] as const) {
      if (!config[key]) throw new ConfigError(key, 'is required when DNS_PROVIDER=rfc2136');
    }
  }
  if (config.DNS_PROVIDER === 'powerdns') {
    for (const key of ['PDNS_API_URL', 'PDNS_API_KEY', 'PDNS_QUERY_SERVER'] as const) {
      if (!config[key]) throw new ConfigError(key, 'is required when DNS_PROVIDER=powerdns');
    }
    const port = parseHostPort(config.PDNS_QUERY_SERVER!).port;
    if (port < 1 || port > 65535) throw new ConfigError('PDNS_QUERY_SERVER', 'port must be 1-65535');
  }
  return config;
}

/** `host:port` or `[ipv6]:port` (as validated for PDNS_QUERY_SERVER) split into its parts. */
export function parseHostPort(value: string): { host: string; port: number } {
  const at = value.lastIndexOf(':');
  const host = value.slice(0, at);
  return { host: host.startsWith('[') ? host.slice(1, -1) : host, port: Number(value.slice(at + 1)) };
}
