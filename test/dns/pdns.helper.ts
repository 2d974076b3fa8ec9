/**
 * A throw-away PowerDNS Authoritative server (`pdns_server`, gsqlite3 backend, HTTP API on) on
 * loopback for one test file: its own temporary directory, SQLite database and random API key,
 * zones created through the API, and a guaranteed SIGKILL and clean-up on stop().
 * Needs pdns-server, pdns-backend-sqlite3 and the sqlite3 CLI (to load the backend's schema).
 */
import { execFileSync } from 'node:child_process';
import { startServerProcess } from '../support/server-process';
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import DNS from 'dns2';

export interface PdnsOptions {
  /** address of both the DNS and the HTTP listener, e.g. 127.0.0.31 */
  address: string;
  dnsPort: number;
  apiPort: number;
  /** zones created (Native, with an NS and the SOA PowerDNS makes) before start resolves */
  zones: string[];
}

/** What the API and DNS helpers need of a server. */
export type PdnsEndpoint = Omit<PdnsServer, 'logs' | 'stop'>;

export interface PdnsServer {
  address: string;
  dnsPort: number;
  apiUrl: string;
  apiKey: string;
  dir: string;
  logs(): string;
  stop(): Promise<void>;
}

const PDNS = '/usr/sbin/pdns_server';
const SCHEMAS = [
  '/usr/share/pdns-backend-sqlite3/schema/schema.sqlite3.sql',
  '/usr/share/doc/pdns-backend-sqlite3/schema.sqlite3.sql',
];

export async function startPdns(options: PdnsOptions): Promise<PdnsServer> {
  const schema = SCHEMAS.find((f) => existsSync(f));
  if (!existsSync(PDNS) || !schema) {
    throw new Error('PowerDNS is not installed: apt-get install pdns-server pdns-backend-sqlite3 sqlite3');
  }
  const dir = await mkdtemp(join(tmpdir(), 'ha-pdns-'));
  const db = join(dir, 'pdns.db');
  try {
    execFileSync('sqlite3', [db, `.read ${schema}`], { stdio: 'pipe' });
  } catch (error) {
    await rm(dir, { recursive: true, force: true });
    throw new Error(`loading the PowerDNS schema with sqlite3 failed: ${(error as Error).message}`);
  }
  // pdns_server reads <config-dir>/pdns.conf; everything is on the command line instead.
  await writeFile(join(dir, 'pdns.conf'), '');
  const apiKey = randomBytes(24).toString('hex');
  const args = [
    '--daemon=no',
    '--guardian=no',
    '--disable-syslog',
    '--write-pid=no',
    `--config-dir=${dir}`,
    `--socket-dir=${dir}`,
    `--local-address=${options.address}`,
    `--local-port=${options.dnsPort}`,
    '--webserver=yes',
    `--webserver-address=${options.address}`,
    `--webserver-port=${options.apiPort}`,
    '--webserver-allow-from=127.0.0.0/8',
    '--api=yes',
    `--api-key=${apiKey}`,
    '--launch=gsqlite3',
    `--gsqlite3-database=${db}`,
    // no look-ups on the internet for security advisories
    '--security-poll-suffix=',
    '--receiver-threads=1',
    '--distributor-threads=1',
  ];
  const apiUrl = `http://${options.address}:${options.apiPort}`;
  const base = { address: options.address, dnsPort: options.dnsPort, apiUrl, apiKey, dir };
  const p = await startServerProcess({
    name: 'pdns_server',
    command: PDNS,
    args,
    dir,
    termGraceMs: 0,
    ready: async (exited) => {
      await waitUntilApiAnswers(base, exited, 20_000);
      for (const zone of options.zones) await createZone(base, zone);
      for (const zone of options.zones) await waitUntilAnswering(base, zone, exited, 10_000);
    },
  });
  return { ...base, logs: p.logs, stop: p.stop };
}

/** A request to the server's API with its key; the parsed JSON body (or the text). */
export async function pdnsApi(
  server: PdnsEndpoint,
  method: string,
  path: string,
  body?: unknown,
): Promise<{ status: number; body: unknown }> {
  const res = await fetch(`${server.apiUrl}/api/v1/servers/localhost${path}`, {
    method,
    headers: { 'X-API-Key': server.apiKey, 'content-type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
    signal: AbortSignal.timeout(5000),
  });
  const text = await res.text();
  let parsed: unknown = text;
  try {
    parsed = text ? JSON.parse(text) : undefined;
  } catch {
    /* plain text */
  }
  return { status: res.status, body: parsed };
}

async function createZone(server: PdnsEndpoint, zone: string): Promise<void> {
  const res = await pdnsApi(server, 'POST', '/zones', {
    name: `${zone}.`,
    kind: 'Native',
    nameservers: [`ns1.${zone}.`],
  });
  if (res.status !== 201)
    throw new Error(`creating zone ${zone} answered ${res.status}: ${JSON.stringify(res.body)}`);
}

async function waitUntilApiAnswers(
  server: PdnsEndpoint,
  exited: () => string | undefined,
  timeoutMs: number,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const reason = exited();
    if (reason) throw new Error(reason);
    try {
      if ((await pdnsApi(server, 'GET', '')).status === 200) return;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) throw new Error(`the PowerDNS API did not answer within ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

async function waitUntilAnswering(
  server: PdnsEndpoint,
  zone: string,
  exited: () => string | undefined,
  timeoutMs: number,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  const query = DNS.UDPClient({ dns: server.address, port: server.dnsPort, timeout: 500 });
  for (;;) {
    const reason = exited();
    if (reason) throw new Error(reason);
    try {
      const response = await query(zone, 'SOA', DNS.Packet.CLASS.IN, { recursive: false });
      if (response.header.rcode === 0 && response.answers.length > 0) return;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline)
      throw new Error(
        `pdns_server did not answer ${zone} SOA on port ${server.dnsPort} within ${timeoutMs} ms`,
      );
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}
