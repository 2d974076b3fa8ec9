import { createServer, IncomingMessage, Server, ServerResponse } from 'node:http';
import { AddressInfo } from 'node:net';
import { postJson } from './http-client';

describe('postJson', () => {
  let server: Server;
  let url: string;
  let handler: (req: IncomingMessage, body: string, res: ServerResponse) => void;

  beforeAll(async () => {
    server = createServer((req, res) => {
      let body = '';
      req.setEncoding('utf8');
      req.on('data', (d: string) => (body += d));
      req.on('end', () => handler(req, body, res));
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(async () => {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  });

  const options = {
    headers: { 'content-type': 'application/json', authorization: 'Bearer t' },
    timeoutMs: 1000,
  };

  it('posts the body with its headers and returns status and text, for any status', async () => {
    handler = (req, body, res) => {
      res.statusCode = req.headers.authorization === 'Bearer t' ? 200 : 401;
      res.end(JSON.stringify({ got: JSON.parse(body), length: req.headers['content-length'] }));
    };
    const ok = await postJson(`${url}/x`, JSON.stringify({ é: 'ü' }), options);
    expect(ok.status).toBe(200);
    expect(JSON.parse(ok.text)).toEqual({ got: { é: 'ü' }, length: '11' });
    handler = (_req, _body, res) => {
      res.writeHead(307, { location: 'http://elsewhere/' }).end('moved');
    };
    expect(await postJson(url, '{}', options)).toEqual({ status: 307, text: 'moved' });
  });

  it('times out as a TimeoutError, aborts as an AbortError', async () => {
    handler = () => undefined; // never answers
    await expect(postJson(url, '{}', { ...options, timeoutMs: 100 })).rejects.toMatchObject({
      name: 'TimeoutError',
    });
    const abort = new AbortController();
    const pending = postJson(url, '{}', { ...options, signal: abort.signal });
    setTimeout(() => abort.abort(), 50);
    await expect(pending).rejects.toMatchObject({ name: 'AbortError' });
    await expect(postJson(url, '{}', { ...options, signal: abort.signal })).rejects.toMatchObject({
      name: 'AbortError',
    });
  });

  it('rejects with the socket error code, and refuses an answer above maxBytes', async () => {
    await expect(postJson('http://127.0.0.1:1', '{}', options)).rejects.toMatchObject({
      code: 'ECONNREFUSED',
    });
    handler = (_req, _body, res) => res.end('x'.repeat(2000));
    await expect(postJson(url, '{}', { ...options, maxBytes: 1000 })).rejects.toThrow(
      /longer than 1000 bytes/,
    );
  });

  it('sends again on a new socket when the server closed the kept-alive one as it was reused', async () => {
    let calls = 0;
    handler = (_req, _body, res) => {
      calls++;
      res.end('ok');
    };
    expect((await postJson(url, '{}', options)).text).toBe('ok');
    // The server drops every idle connection; the client's pooled socket is then dead on reuse
    // (or already removed from the pool): either way the request arrives once and is answered.
    server.closeIdleConnections();
    expect((await postJson(url, '{}', options)).text).toBe('ok');
    expect(calls).toBe(2);
  });
});
