/**
 * A throw-away BIND 9 (`named -g`) on loopback for one test file: its own temporary directory,
 * config, zone file and journal, a TSIG key, and a guaranteed kill on stop().
 */
import { startServerProcess } from '../support/server-process';
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import DNS from 'dns2';

export interface NamedKey {
  name: string;
  secretBase64: string;
}

export interface NamedOptions {
  port: number;
  zone: string;
  /** Keys allowed to update the zone. */
  updateKeys: NamedKey[];
  /** Keys the server knows but that may not update. */
  otherKeys?: NamedKey[];
}

export interface NamedServer {
  port: number;
  dir: string;
  logs(): string;
  stop(): Promise<void>;
}

const NAMED = '/usr/sbin/named';

export async function startNamed(options: NamedOptions): Promise<NamedServer> {
  const dir = await mkdtemp(join(tmpdir(), 'ha-named-'));
  const keys = [...options.updateKeys, ...(options.otherKeys ?? [])];
  const conf = `
options {
  directory "${dir}";
  pid-file "${dir}/named.pid";
  session-keyfile "${dir}/session.key";
  managed-keys-directory "${dir}";
  listen-on port ${options.port} { 127.0.0.1; };
  listen-on-v6 { none; };
  recursion no;
  notify no;
  dnssec-validation no;
};
controls { };
${keys.map((k) => `key "${k.name}" { algorithm hmac-sha256; secret "${k.secretBase64}"; };`).join('\n')}
zone "${options.zone}" {
  type primary;
  file "${options.zone}.db";
  allow-update { ${options.updateKeys.map((k) => `key "${k.name}";`).join(' ')} };
};
`;
  const zoneFile = `$TTL 60
@ IN SOA ns1.${options.zone}. hostmaster.${options.zone}. 1 3600 600 86400 30
@ IN NS ns1.${options.zone}.
ns1 IN A 127.0.0.1
`;
  await writeFile(join(dir, 'named.conf'), conf);
  await writeFile(join(dir, `${options.zone}.db`), zoneFile);
  return run(dir, options.port, (exited) => waitUntilAnswering(options.port, options.zone, exited, 20_000));
}

export interface CachingResolverOptions {
  port: number;
  /** where every question goes (the embedded server under test): BIND forwards only, never recurses */
  forwarder: { host: string; port: number };
  /** a name the forwarder answers, asked (recursively) until the resolver is up */
  probeName: string;
}

/**
 * A throw-away BIND 9 as a caching resolver (what users' machines ask): recursion on, every
 * question forwarded to `forwarder`, answers cached for their TTL. Prefetch (refreshing a popular
 * answer before it expires) and serving stale answers are off, so a cached answer lives exactly
 * its TTL.
 */
export async function startCachingResolver(options: CachingResolverOptions): Promise<NamedServer> {
  const dir = await mkdtemp(join(tmpdir(), 'ha-resolver-'));
  const conf = `
options {
  directory "${dir}";
  pid-file "${dir}/named.pid";
  session-keyfile "${dir}/session.key";
  managed-keys-directory "${dir}";
  listen-on port ${options.port} { 127.0.0.1; };
  listen-on-v6 { none; };
  recursion yes;
  allow-query { 127.0.0.0/8; };
  allow-recursion { 127.0.0.0/8; };
  forward only;
  forwarders { ${options.forwarder.host} port ${options.forwarder.port}; };
  dnssec-validation no;
  prefetch 0;
  stale-answer-enable no;
  min-cache-ttl 0;
  min-ncache-ttl 0;
  notify no;
};
controls { };
`;
  await writeFile(join(dir, 'named.conf'), conf);
  return run(dir, options.port, (exited) =>
    waitUntilResolving(options.port, options.probeName, exited, 20_000),
  );
}

async function run(
  dir: string,
  port: number,
  ready: (exited: () => string | undefined) => Promise<void>,
): Promise<NamedServer> {
  const p = await startServerProcess({
    name: 'named',
    command: NAMED,
    args: ['-g', '-c', join(dir, 'named.conf')],
    dir,
    termGraceMs: 5000,
    ready,
  });
  return { port, dir, logs: p.logs, stop: p.stop };
}

/** Asks a name recursively until the resolver answers it (its forwarder is reachable). */
async function waitUntilResolving(
  port: number,
  name: string,
  exited: () => string | undefined,
  timeoutMs: number,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  const query = DNS.UDPClient({ dns: '127.0.0.1', port, timeout: 500 });
  for (;;) {
    const reason = exited();
    if (reason) throw new Error(reason);
    try {
      const response = await query(name, 'SOA', DNS.Packet.CLASS.IN, { recursive: true });
      if (response.header.rcode === 0) return;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline)
      throw new Error(`named did not resolve ${name} on port ${port} within ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

async function waitUntilAnswering(
  port: number,
  zone: string,
  exited: () => string | undefined,
  timeoutMs: number,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  const query = DNS.UDPClient({ dns: '127.0.0.1', port, timeout: 500 });
  for (;;) {
    const reason = exited();
    if (reason) throw new Error(reason);
    try {
      const response = await query(zone, 'SOA', DNS.Packet.CLASS.IN, { recursive: false });
      if (response.header.rcode === 0 && response.answers.length > 0) return;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) throw new Error(`named did not answer on port ${port} within ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}
