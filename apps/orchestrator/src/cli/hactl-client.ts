/**
 * The REST client under `hactl`: where the URL and token come from (flags, environment, config
 * file), calls and their exit codes, live streams (SSE) and waiting for an operation to end.
 */
import { closeSync, fstatSync, openSync, readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';

/** Exit codes; the same table is printed by `hactl --help` and documented in docs/cli.md. */
export const EXIT = {
  ok: 0,
  /** the API refused the request (4xx), a dry run would be refused, a group member was refused */
  refused: 1,
  /** bad usage: unknown command or option, missing argument or option, bad config file */
  usage: 2,
  /** the orchestrator cannot be reached, or answered with a server error (5xx) */
  unavailable: 3,
  /** the operation ran and ended failed (--wait), or an AR test did not pass */
  failed: 4,
} as const;

export const EXIT_CODES_HELP = `Exit codes:
  0  done
  1  the API refused the request (4xx: bad input, role, unknown id, wrong state), a dry run
     would be refused, or a group member was refused
  2  bad usage: unknown command or option, missing argument, bad or too open config file
  3  the orchestrator cannot be reached, or it answered with a server error (5xx)
  4  the operation ran and ended failed (--wait), or the AR test did not pass`;

export class CliError extends Error {
  constructor(
    message: string,
    readonly exitCode: number,
  ) {
    super(message);
  }
}

export interface Ctx {
  url: string;
  token: string;
  json: boolean;
}

export interface GlobalOptions {
  json?: boolean;
  url?: string;
  config?: string;
}

interface FileConfig {
  url?: string;
  token?: string;
}

/** --config, then $HACTL_CONFIG, then $XDG_CONFIG_HOME/hactl/config.json (~/.config by default). */
export function configPath(flag?: string): { path: string; explicit: boolean } {
  if (flag) return { path: flag, explicit: true };
  if (process.env.HACTL_CONFIG) return { path: process.env.HACTL_CONFIG, explicit: true };
  const base = process.env.XDG_CONFIG_HOME || join(homedir(), '.config');
  return { path: join(base, 'hactl', 'config.json'), explicit: false };
}

/**
 * Reads the config file. A missing default file is no config; a file named by --config or
 * $HACTL_CONFIG must exist. Like ssh with a private key, a file that holds a token and that group
 * or others may read is refused: the token is as good as a password.
 */
export function loadConfig(flag?: string): FileConfig {
  const { path, explicit } = configPath(flag);
  let fd: number;
  try {
    fd = openSync(path, 'r');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT' && !explicit) return {};
    throw new CliError(`cannot read config file ${path}: ${(err as Error).message}`, EXIT.usage);
  }
  let text: string;
  let mode: number;
  try {
    // One open file for the permission check and the read: no swap in between.
    mode = fstatSync(fd).mode;
    text = readFileSync(fd, 'utf8');
  } finally {
    closeSync(fd);
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (err) {
    throw new CliError(`config file ${path} is not JSON: ${(err as Error).message}`, EXIT.usage);
  }
  if (!parsed || typeof parsed !== 'object' || Array.isArray(parsed))
    throw new CliError(`config file ${path} must hold a JSON object {"url": …, "token": …}`, EXIT.usage);
  const cfg = parsed as Record<string, unknown>;
  for (const key of Object.keys(cfg)) {
    if (key !== 'url' && key !== 'token')
      throw new CliError(`config file ${path}: unknown key ${key} (only url and token)`, EXIT.usage);
    if (typeof cfg[key] !== 'string' || !cfg[key])
      throw new CliError(`config file ${path}: ${key} must be a non-empty string`, EXIT.usage);
  }
  if (cfg.token !== undefined && process.platform !== 'win32' && (mode & 0o077) !== 0) {
    const octal = (mode & 0o777).toString(8).padStart(4, '0');
    throw new CliError(
      `permissions ${octal} for config file ${path} are too open: it holds a token, so it must not be ` +
        `readable by group or others; run: chmod 600 ${path}`,
      EXIT.usage,
    );
  }
  return cfg as FileConfig;
}

/** Flags > environment (HA_URL, HA_TOKEN) > config file > default URL. */
export function buildCtx(opts: GlobalOptions): Ctx {
  const file = loadConfig(opts.config);
  const url = opts.url ?? process.env.HA_URL ?? file.url ?? 'http://127.0.0.1:8080';
  if (!/^https?:\/\/[^/]/.test(url))
    throw new CliError(`the URL must be http(s)://…, not ${url}`, EXIT.usage);
  const token = process.env.HA_TOKEN || file.token;
  if (!token)
    throw new CliError(
      `no API token: set HA_TOKEN or put "token" in ${configPath(opts.config).path} (chmod 600)`,
      EXIT.usage,
    );
  return { url: url.replace(/\/+$/, ''), token, json: !!opts.json };
}

export function unreachable(ctx: Ctx, err: unknown): CliError {
  return new CliError(`orchestrator unreachable at ${ctx.url}: ${(err as Error).message}`, EXIT.unavailable);
}

/** The API's refusal as the CLI says it: 4xx exit 1, 5xx exit 3. */
export function apiError(status: number, text: string): CliError {
  let parsed: any = {};
  try {
    parsed = text ? JSON.parse(text) : {};
  } catch {
    // not JSON (a proxy's error page): say what came back
  }
  const extra = parsed.details?.operationId ? ` (operation ${parsed.details.operationId})` : '';
  const message = typeof parsed.message === 'string' ? parsed.message : text.slice(0, 500);
  return new CliError(
    `${status} ${parsed.error ?? ''}: ${message}${extra}`,
    status >= 500 ? EXIT.unavailable : EXIT.refused,
  );
}

/**
 * One request; answers the response once its status is known (2xx, 3xx) so the body can be
 * streamed. The timeout covers the wait for the headers only.
 */
export async function request(
  ctx: Ctx,
  method: string,
  path: string,
  opts: { body?: unknown; accept?: string; lastEventId?: string; signal?: AbortSignal } = {},
): Promise<Response> {
  const timeout = new AbortController();
  const timer = setTimeout(() => timeout.abort(new Error('no answer within 15 s')), 15000);
  const signal = opts.signal ? AbortSignal.any([opts.signal, timeout.signal]) : timeout.signal;
  let res: Response;
  try {
    res = await fetch(`${ctx.url}${path}`, {
      method,
      headers: {
        authorization: `Bearer ${ctx.token}`,
        ...(opts.body !== undefined ? { 'content-type': 'application/json' } : {}),
        ...(opts.accept ? { accept: opts.accept } : {}),
        ...(opts.lastEventId !== undefined ? { 'last-event-id': opts.lastEventId } : {}),
      },
      body: opts.body !== undefined ? JSON.stringify(opts.body) : undefined,
      signal,
    });
  } catch (err) {
    if (opts.signal?.aborted) throw err;
    throw unreachable(ctx, err);
  } finally {
    clearTimeout(timer);
  }
  if (res.status >= 400) throw apiError(res.status, await res.text().catch(() => ''));
  return res;
}

export async function call<T = any>(ctx: Ctx, method: string, path: string, body?: unknown): Promise<T> {
  const res = await request(ctx, method, path, { body });
  let text: string;
  try {
    text = await res.text();
  } catch (err) {
    throw unreachable(ctx, err);
  }
  try {
    return (text ? JSON.parse(text) : {}) as T;
  } catch {
    throw new CliError(
      `${ctx.url}${path} answered ${res.status} with a body that is not JSON`,
      EXIT.unavailable,
    );
  }
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** A scenario, node, group or webhook by id or by name (exit 1 when there is none). */
export async function resolve(
  ctx: Ctx,
  kind: 'scenarios' | 'nodes' | 'groups' | 'webhooks',
  ref: string,
): Promise<any> {
  if (UUID.test(ref)) return call(ctx, 'GET', `/api/v1/${kind}/${ref}`);
  for (let offset = 0; ; offset += 500) {
    const page = await call(ctx, 'GET', `/api/v1/${kind}?limit=500&offset=${offset}`);
    const hit = page.items.find((x: { name: string }) => x.name === ref);
    if (hit) return hit;
    if (offset + 500 >= page.total) throw new CliError(`no ${kind.slice(0, -1)} named ${ref}`, EXIT.refused);
  }
}

interface SseMessage {
  id?: string;
  event: string;
  data: string;
}

/**
 * Reads a text/event-stream response as messages. Ends when the server closes the stream; a
 * dropped connection throws. Comments (keep-alives) and `retry:` lines are skipped.
 */
export async function* sseMessages(res: Response): AsyncGenerator<SseMessage> {
  const reader = res.body!.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = '';
  let msg: SseMessage = { event: 'message', data: '' };
  let hasData = false;
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return;
    buffer += value;
    let nl: number;
    while ((nl = buffer.indexOf('\n')) >= 0) {
      const line = buffer.slice(0, nl).replace(/\r$/, '');
      buffer = buffer.slice(nl + 1);
      if (line === '') {
        if (hasData) yield msg;
        msg = { event: 'message', data: '' };
        hasData = false;
        continue;
      }
      if (line.startsWith(':')) continue;
      const colon = line.indexOf(':');
      const field = colon < 0 ? line : line.slice(0, colon);
      const val = colon < 0 ? '' : line.slice(colon + 1).replace(/^ /, '');
      if (field === 'data') {
        msg.data = hasData ? `${msg.data}\n${val}` : val;
        hasData = true;
      } else if (field === 'event') msg.event = val;
      else if (field === 'id') msg.id = val;
    }
  }
}

/** Opens a live stream; null for an operation stream this orchestrator does not have (404: polled instead). */
async function openStream(ctx: Ctx, path: string, lastEventId: string | undefined, signal?: AbortSignal) {
  try {
    return await request(ctx, 'GET', path, { accept: 'text/event-stream', lastEventId, signal });
  } catch (err) {
    // An orchestrator older than the live streams has no such route.
    if (err instanceof CliError && err.message.startsWith('404') && path.includes('/operations/'))
      return null;
    throw err;
  }
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function stepLine(step: any, label: string): string {
  const extra = [
    step.attempts > 1 ? `attempt ${step.attempts}` : '',
    step.durationMs !== undefined && step.durationMs !== null ? `${step.durationMs} ms` : '',
    step.error ?? '',
  ].filter(Boolean);
  return `hactl: ${label}${String(step.position ?? '').padStart(2)} ${step.name} ${step.state}${extra.length ? ` (${extra.join(', ')})` : ''}`;
}

/**
 * Waits for an operation to end, printing each step as it changes (stderr; `label` prefixes the
 * lines when several operations are followed at once). Follows the operation's live stream and
 * resumes after a drop with Last-Event-ID; polls where the orchestrator has no stream.
 */
export async function waitOperation(ctx: Ctx, id: string, label = ''): Promise<any> {
  let lastId: string | undefined;
  let failures = 0;
  for (;;) {
    let res: Response | null;
    try {
      res = await openStream(ctx, `/api/v1/operations/${id}/stream`, lastId);
    } catch (err) {
      if (err instanceof CliError && err.exitCode !== EXIT.unavailable) throw err;
      if (++failures > 15) throw err;
      await sleep(1000);
      continue;
    }
    if (!res) return pollOperation(ctx, id);
    try {
      for await (const m of sseMessages(res)) {
        failures = 0;
        if (m.id !== undefined) lastId = m.id;
        if (m.event === 'step') console.error(stepLine(JSON.parse(m.data), label));
        if (m.event === 'operation') return call(ctx, 'GET', `/api/v1/operations/${id}`);
      }
    } catch {
      // dropped: reconnect below and resume after the last step seen
    }
    if (++failures > 15) return pollOperation(ctx, id);
    await sleep(500);
  }
}

async function pollOperation(ctx: Ctx, id: string): Promise<any> {
  for (;;) {
    const op = await call(ctx, 'GET', `/api/v1/operations/${id}`);
    if (op.state === 'succeeded' || op.state === 'failed') return op;
    await sleep(200);
  }
}

/** `events --follow`: prints events as they happen until Ctrl-C; resumes after drops without a gap. */
export async function followEvents(ctx: Ctx, query: string): Promise<number> {
  const stop = new AbortController();
  const onSigint = (): void => stop.abort();
  process.once('SIGINT', onSigint);
  process.once('SIGTERM', onSigint);
  let lastId: string | undefined;
  let failures = 0;
  try {
    while (!stop.signal.aborted) {
      let res: Response | null;
      try {
        res = await openStream(ctx, `/api/v1/events/stream${query}`, lastId, stop.signal);
      } catch (err) {
        if (stop.signal.aborted) break;
        if (err instanceof CliError && err.exitCode !== EXIT.unavailable) throw err;
        if (++failures > 30) throw err;
        await sleep(1000);
        continue;
      }
      if (!res) throw new Error('unreachable: only operation streams answer null');
      try {
        for await (const m of sseMessages(res)) {
          failures = 0;
          if (m.event === 'reset') {
            console.error(`hactl: ${JSON.parse(m.data).reason}`);
            continue;
          }
          if (m.id !== undefined) lastId = m.id;
          const e = JSON.parse(m.data);
          console.log(
            ctx.json ? JSON.stringify(e) : `${e.at}  ${String(e.severity).padEnd(8)} ${e.kind}  ${e.message}`,
          );
        }
      } catch {
        // dropped (or Ctrl-C): reconnect after the last event printed
      }
      if (stop.signal.aborted) break;
      if (++failures > 30)
        throw new CliError(`the event stream of ${ctx.url} keeps dropping`, EXIT.unavailable);
      console.error('hactl: stream interrupted, reconnecting');
      await sleep(1000);
    }
  } finally {
    process.off('SIGINT', onSigint);
    process.off('SIGTERM', onSigint);
  }
  return EXIT.ok;
}
