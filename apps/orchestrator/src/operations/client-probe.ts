/**
 * The client-path probe of verify-clients: reach the service at the address a client's resolver
 * gave for its name. tcp: a connection is enough; http(s): a response 200-399 to a GET of the URL,
 * sent with the service name as Host (and TLS SNI/certificate name), only the address lookup is
 * replaced by the resolver's answer.
 */
import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { connect, isIPv6 } from 'node:net';
import { ClientsPlan, ProbeResult } from './clients-moved';

export function probeClientPath(
  probe: NonNullable<ClientsPlan['probe']>,
  address: string,
): Promise<ProbeResult> {
  return probe.kind === 'tcp'
    ? probeTcp(address, probe.port, probe.timeoutMs)
    : probeHttp(probe.url!, address, probe.timeoutMs);
}

function probeTcp(address: string, port: number, timeoutMs: number): Promise<ProbeResult> {
  return new Promise((resolve) => {
    const socket = connect({ host: address, port, timeout: timeoutMs });
    const done = (ok: boolean, detail: string) => {
      socket.destroy();
      resolve({ ok, address, detail });
    };
    socket.once('connect', () => done(true, `connected to ${address}:${port}`));
    socket.once('timeout', () => done(false, `no connection to ${address}:${port} within ${timeoutMs} ms`));
    socket.once('error', (err) => done(false, `${address}:${port}: ${err.message}`));
  });
}

function probeHttp(url: URL, address: string, timeoutMs: number): Promise<ProbeResult> {
  const send = url.protocol === 'https:' ? httpsRequest : httpRequest;
  return new Promise((resolve) => {
    const req = send(url, {
      method: 'GET',
      timeout: timeoutMs,
      headers: { 'user-agent': 'ha-orchestrator client probe' },
      // The resolver's answer, not the orchestrator's own resolver.
      lookup: (_host, options, cb) => {
        const family = isIPv6(address) ? 6 : 4;
        if ((options as { all?: boolean }).all)
          (cb as (e: null, a: unknown[]) => void)(null, [{ address, family }]);
        else cb(null, address, family);
      },
    });
    req.once('response', (res) => {
      res.resume();
      const status = res.statusCode ?? 0;
      resolve({
        ok: status >= 200 && status < 400,
        address,
        detail: `${url.href} via ${address}: HTTP ${status}`,
      });
    });
    req.once('timeout', () => req.destroy(new Error(`no answer within ${timeoutMs} ms`)));
    req.once('error', (err) =>
      resolve({ ok: false, address, detail: `${url.href} via ${address}: ${err.message}` }),
    );
    req.end();
  });
}
