/**
 * The agent's HTTP API on Node's own http server:
 *   POST /actions/{action}  Bearer actionToken, ActionRequest body → ActionResponse
 *   POST /actions/{action}/batch  Bearer actionToken, ActionBatchRequest → ActionBatchResponse
 *                           (each request handled as if alone; its error body in its result)
 *   POST /peer/heartbeat    Bearer scenario peerToken, PeerHeartbeat body → PeerHeartbeat
 *   GET  /status            Bearer actionToken → role/epoch per scenario, contacts, peers, checks
 *   GET  /healthz           no auth, no data: liveness only
 * Typed errors map to status codes in toHttpError; anything else is a 500 with a correlation id.
 */
import { createHash, randomUUID, timingSafeEqual } from 'node:crypto';
import { IncomingMessage, Server, ServerResponse, createServer } from 'node:http';
import { AddressInfo } from 'node:net';
import type {
  ActionBatchRequest,
  ActionBatchResponse,
  ActionRequest,
  ActionResponse,
  AgentErrorBody,
  PeerHeartbeat,
} from '@ha/contracts';
import { Logger } from 'pino';
import {
  ActionInProgressError,
  AgentHttpError,
  BodyValidationError,
  MethodNotAllowedError,
  NotFoundError,
  PayloadTooLargeError,
  StaleEpochError,
  UnauthorizedError,
  UnsupportedMediaTypeError,
} from './errors';
import { ACTION_BATCH_REQUEST_SCHEMA, ACTION_REQUEST_SCHEMA, PEER_HEARTBEAT_SCHEMA } from './schemas';
import { validatePlain } from './validation';

export const MAX_BODY_BYTES = 64 * 1024;
/** A batch of MAX_ACTION_BATCH action requests fits (about 250 bytes each). */
export const MAX_BATCH_BODY_BYTES = 2 * 1024 * 1024;
/** A batch item still running this close to its deadline is answered `in_progress`. */
export const BATCH_ANSWER_MARGIN_MS = 300;

/** What the server needs from the agent; keeps the HTTP layer thin. */
export interface AgentApi {
  isActionConfigured(action: string): boolean;
  runAction(action: string, request: ActionRequest): Promise<ActionResponse>;
  receivePeerHeartbeat(heartbeat: PeerHeartbeat, bearer: string | undefined): PeerHeartbeat;
  status(): unknown;
  /** How this node hears each of its peers now (a failover's lease wait asks before promoting). */
  peerViews(): unknown;
  /** The orchestrators' time as this agent estimates it (deadlines are in it); default Date.now. */
  orchestratorNow?(): number;
}

/** Constant-time comparison: both sides are hashed first so neither length nor content leaks. */
export function safeEqual(given: string, expected: string): boolean {
  const a = createHash('sha256').update(given).digest();
  const b = createHash('sha256').update(expected).digest();
  return timingSafeEqual(a, b);
}

export function bearerToken(req: IncomingMessage): string | undefined {
  const header = req.headers.authorization;
  if (!header) return undefined;
  const match = /^Bearer\s+(\S+)\s*$/i.exec(header);
  return match?.[1];
}

export function toHttpError(
  err: unknown,
  correlationId: string,
): AgentErrorBody & { correlationId?: string } {
  if (err instanceof AgentHttpError) {
    const body: AgentErrorBody = { statusCode: err.statusCode, error: err.error, message: err.message };
    if (err instanceof StaleEpochError) body.currentEpoch = err.currentEpoch;
    if (err.reason) body.reason = err.reason;
    return body;
  }
  return { statusCode: 500, error: 'Internal Server Error', message: 'internal error', correlationId };
}

export class AgentHttpServer {
  private readonly server: Server;

  constructor(
    private readonly options: {
      host: string;
      port: number;
      actionToken: string;
      api: AgentApi;
      logger: Logger;
    },
  ) {
    this.server = createServer((req, res) => void this.handle(req, res));
    this.server.headersTimeout = 10_000;
    this.server.requestTimeout = 30_000;
    this.server.keepAliveTimeout = 5_000;
  }

  listen(): Promise<AddressInfo> {
    return new Promise((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(this.options.port, this.options.host, () => {
        this.server.off('error', reject);
        resolve(this.server.address() as AddressInfo);
      });
    });
  }

  close(): Promise<void> {
    return new Promise((resolve) => {
      this.server.close(() => resolve());
      this.server.closeIdleConnections();
      // In-flight requests get a moment to finish; then connections are cut.
      setTimeout(() => this.server.closeAllConnections(), 2000).unref();
    });
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const correlationId = randomUUID();
    try {
      const { pathname } = new URL(req.url ?? '/', 'http://agent');
      if (pathname === '/healthz') {
        this.requireMethod(req, 'GET');
        return send(res, 200, { status: 'ok' });
      }
      if (pathname === '/status') {
        this.requireMethod(req, 'GET');
        this.requireActionToken(req);
        return send(res, 200, this.options.api.status());
      }
      if (pathname === '/peer/views') {
        this.requireMethod(req, 'GET');
        this.requireActionToken(req);
        return send(res, 200, this.options.api.peerViews());
      }
      if (pathname === '/peer/heartbeat') {
        this.requireMethod(req, 'POST');
        const heartbeat = validatePlain<PeerHeartbeat>(PEER_HEARTBEAT_SCHEMA, await readJsonBody(req));
        return send(res, 200, this.options.api.receivePeerHeartbeat(heartbeat, bearerToken(req)));
      }
      const batch = /^\/actions\/([^/]+)\/batch$/.exec(pathname);
      if (batch) {
        const name = this.configuredAction(req, batch[1]);
        const body = validatePlain<ActionBatchRequest>(
          ACTION_BATCH_REQUEST_SCHEMA,
          await readJsonBody(req, MAX_BATCH_BODY_BYTES),
        );
        const results = await Promise.all(
          body.requests.map(async (request) => {
            try {
              if (hasControlCharacters(request.stepId)) {
                throw new BodyValidationError('stepId', 'stepId must not contain control characters');
              }
              // Each request is answered by its own deadline: one slow action (a hung script)
              // must not hold every other answer of the call past the caller's timeout. It goes
              // on running; a retry of its stepId gets its result (or joins it).
              const running = this.options.api.runAction(name, request);
              // The deadline is orchestrator time: measured against the agent's estimate of it.
              const now = this.options.api.orchestratorNow?.() ?? Date.now();
              const margin = Math.max(0, request.deadline - now - BATCH_ANSWER_MARGIN_MS);
              let timer: NodeJS.Timeout | undefined;
              const late = new Promise<'late'>((r) => (timer = setTimeout(() => r('late'), margin)));
              const first = await Promise.race([running, late]).finally(() => clearTimeout(timer));
              if (first === 'late') {
                running.catch(() => undefined);
                throw new ActionInProgressError(request.stepId);
              }
              return { ok: true as const, ...first };
            } catch (err) {
              const e = toHttpError(err, correlationId);
              if (e.statusCode >= 500) {
                this.options.logger.error(
                  { event: 'http.error', correlationId, action: name, err: (err as Error)?.message },
                  'batch item failed',
                );
              }
              return { ok: false as const, ...e };
            }
          }),
        );
        const answer: ActionBatchResponse = { results };
        return send(res, 200, answer);
      }
      const action = /^\/actions\/([^/]+)$/.exec(pathname);
      if (action) {
        const name = this.configuredAction(req, action[1]);
        const request = validatePlain<ActionRequest>(ACTION_REQUEST_SCHEMA, await readJsonBody(req));
        if (hasControlCharacters(request.stepId)) {
          throw new BodyValidationError('stepId', 'stepId must not contain control characters');
        }
        return send(res, 200, await this.options.api.runAction(name, request));
      }
      throw new NotFoundError(`no route for ${req.method} ${pathname}`);
    } catch (err) {
      const body = toHttpError(err, correlationId);
      if (body.statusCode >= 500) {
        this.options.logger.error(
          { event: 'http.error', correlationId, method: req.method, err: (err as Error)?.message },
          'request failed',
        );
      } else {
        this.options.logger.debug(
          { event: 'http.rejected', statusCode: body.statusCode, method: req.method, reason: body.message },
          'request rejected',
        );
      }
      const headers: Record<string, string> = body.statusCode === 401 ? { 'www-authenticate': 'Bearer' } : {};
      send(res, body.statusCode, body, headers);
    }
  }

  /** POST, action token, and an action this agent's config names (both action routes). */
  private configuredAction(req: IncomingMessage, segment: string): string {
    this.requireMethod(req, 'POST');
    this.requireActionToken(req);
    const name = decodePathSegment(segment);
    if (!this.options.api.isActionConfigured(name)) {
      throw new NotFoundError(`action '${name}' is not configured on this agent`);
    }
    return name;
  }

  private requireMethod(req: IncomingMessage, method: string): void {
    if (req.method !== method) throw new MethodNotAllowedError(`use ${method}`);
  }

  private requireActionToken(req: IncomingMessage): void {
    const token = bearerToken(req);
    if (token === undefined || !safeEqual(token, this.options.actionToken)) {
      throw new UnauthorizedError('missing or invalid bearer token');
    }
  }
}

function decodePathSegment(segment: string): string {
  try {
    return decodeURIComponent(segment);
  } catch {
    throw new NotFoundError('malformed action name');
  }
}

/** stepId goes into a script's environment, where a NUL byte or a newline has no business. */
function hasControlCharacters(text: string): boolean {
  for (let i = 0; i < text.length; i++) {
    const code = text.charCodeAt(i);
    if (code < 0x20 || code === 0x7f) return true;
  }
  return false;
}

function send(
  res: ServerResponse,
  statusCode: number,
  body: unknown,
  headers: Record<string, string> = {},
): void {
  if (res.headersSent) return;
  const text = JSON.stringify(body);
  res.writeHead(statusCode, {
    'content-type': 'application/json; charset=utf-8',
    'content-length': Buffer.byteLength(text),
    'cache-control': 'no-store',
    ...headers,
  });
  res.end(text);
}

/** Reads a JSON body of at most `limit` bytes; 415 for another content type, 413 when larger. */
export async function readJsonBody(req: IncomingMessage, limit = MAX_BODY_BYTES): Promise<unknown> {
  const type = (req.headers['content-type'] ?? '').split(';')[0].trim().toLowerCase();
  if (type !== 'application/json') {
    throw new UnsupportedMediaTypeError('content-type must be application/json');
  }
  const declared = Number(req.headers['content-length']);
  if (Number.isFinite(declared) && declared > limit) {
    throw new PayloadTooLargeError(`body is larger than ${limit} bytes`);
  }
  const text = await new Promise<string>((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const onData = (chunk: Buffer): void => {
      size += chunk.length;
      if (size > limit) {
        // Stop buffering but keep draining, so the client still reads our 413.
        req.off('data', onData);
        req.resume();
        reject(new PayloadTooLargeError(`body is larger than ${limit} bytes`));
        return;
      }
      chunks.push(chunk);
    };
    req.on('data', onData);
    req.once('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.once('error', reject);
  });
  try {
    return JSON.parse(text);
  } catch {
    throw new BodyValidationError('', 'body is not valid JSON');
  }
}
