/**
 * POST a JSON body, read the answer as text: the agent's only outgoing HTTP (heartbeats to the
 * orchestrators, peer heartbeats). On node:http with keep-alive rather than fetch: undici, which
 * fetch loads on first use, costs the agent ~12 MB of memory. https is loaded only for an https URL.
 *
 * Errors: a timeout rejects with an Error named 'TimeoutError', an abort with one named
 * 'AbortError', a socket error with the Node error (its `code`, e.g. ECONNREFUSED). Redirects are
 * not followed (a 3xx is an answer like any other non-2xx). A request sent on a kept-alive socket
 * that the server closed meanwhile (ECONNRESET before any answer) is sent once more on a new one.
 */
import http from 'node:http';
import type https from 'node:https';

export interface PostResult {
  status: number;
  text: string;
}

export interface PostOptions {
  headers: Record<string, string>;
  /** For the whole exchange, answer body included. */
  timeoutMs: number;
  signal?: AbortSignal;
  /** Answers longer than this are refused (the orchestrator's biggest, 10,000 assignments, is ~7 MB). */
  maxBytes?: number;
}

const DEFAULT_MAX_BYTES = 32 * 1024 * 1024;
const httpAgent = new http.Agent({ keepAlive: true });
let httpsAgent: https.Agent | undefined;

function namedError(name: string, message: string): Error {
  const err = new Error(message);
  err.name = name;
  return err;
}

export async function postJson(url: string, body: string, options: PostOptions): Promise<PostResult> {
  const signal = options.signal;
  if (signal?.aborted) throw namedError('AbortError', 'aborted');
  const deadline = performance.now() + options.timeoutMs;
  try {
    return await postOnce(url, body, options, deadline);
  } catch (err) {
    if ((err as { retryable?: boolean }).retryable && !signal?.aborted && performance.now() < deadline) {
      return postOnce(url, body, options, deadline);
    }
    throw err;
  }
}

function postOnce(url: string, body: string, options: PostOptions, deadline: number): Promise<PostResult> {
  const target = new URL(url);
  const secure = target.protocol === 'https:';
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const transport: typeof http | typeof https = secure ? require('node:https') : http;
  if (secure) httpsAgent ??= new (transport as typeof https).Agent({ keepAlive: true });
  const maxBytes = options.maxBytes ?? DEFAULT_MAX_BYTES;
  return new Promise<PostResult>((resolve, reject) => {
    let settled = false;
    let answered = false;
    const finish = (err: Error | null, result?: PostResult): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      options.signal?.removeEventListener('abort', onAbort);
      if (err) {
        req.destroy();
        reject(err);
      } else resolve(result!);
    };
    const req = transport.request(target, {
      method: 'POST',
      agent: secure ? httpsAgent : httpAgent,
      headers: { ...options.headers, 'content-length': Buffer.byteLength(body) },
    });
    const timer = setTimeout(
      () => finish(namedError('TimeoutError', `timed out after ${options.timeoutMs} ms`)),
      Math.max(0, deadline - performance.now()),
    );
    const onAbort = (): void => finish(namedError('AbortError', 'aborted'));
    options.signal?.addEventListener('abort', onAbort, { once: true });
    req.on('error', (err: NodeJS.ErrnoException) => {
      // The server closed an idle kept-alive socket as we reused it: nothing reached it.
      if (req.reusedSocket && !answered && err.code === 'ECONNRESET') Object.assign(err, { retryable: true });
      finish(err);
    });
    req.on('response', (res) => {
      answered = true;
      const chunks: Buffer[] = [];
      let size = 0;
      res.on('data', (chunk: Buffer) => {
        size += chunk.length;
        if (size > maxBytes) finish(new Error(`answer longer than ${maxBytes} bytes`));
        else chunks.push(chunk);
      });
      res.on('end', () =>
        finish(null, { status: res.statusCode ?? 0, text: Buffer.concat(chunks).toString('utf8') }),
      );
      res.on('error', (err) => finish(err));
      res.on('close', () => {
        if (!res.complete) finish(new Error('answer cut off'));
      });
    });
    req.end(body);
  });
}
