/**
 * No Docker engine runs here, so this keeps docker/ honest another way: the agent configs pass the
 * agent's own validation, the orchestrator environment passes the orchestrator's, and the
 * addresses, key and zone that compose.yaml, the agent configs and BIND's files share agree.
 */
import { ChildProcess, spawn } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { loadConfig as loadAgentConfig } from '../../apps/heartbeat-agent/src/config';
import { loadConfig as loadOrchestratorConfig } from '../../apps/orchestrator/src/config/app-config';
import { rootLogger } from '../../apps/orchestrator/src/common/logger';
import { createRfc2136Provider } from '../../apps/orchestrator/src/dns/rfc2136-factory';
import { ROOT, waitFor } from '../support/orchestrator';

const DOCKER = join(ROOT, 'docker');
const read = (file: string) => readFileSync(join(DOCKER, file), 'utf8');

interface Service {
  image?: string;
  command?: string[];
  environment?: Record<string, string>;
  volumes?: string[];
  networks?: Record<string, { ipv4_address?: string }>;
  healthcheck?: { test: string[] };
  depends_on?: Record<string, { condition: string }>;
  user?: string;
}

describe('docker/', () => {
  const compose = parseYaml(read('compose.yaml'), { merge: true }) as { services: Record<string, Service> };
  const services = compose.services;
  const ip = (name: string) => services[name].networks?.ha?.ipv4_address;
  /** ${VAR:-default} → default, ${VAR:?message} → a sample value. */
  const interpolate = (value: string) =>
    String(value)
      .replace(/\$\{[A-Z_]+:-([^}]*)\}/g, '$1')
      .replace(/\$\{[A-Z_]+:\?[^}]*\}/g, 'sample-admin-token-0123456789');
  const env = Object.fromEntries(
    Object.entries(services.orchestrator.environment ?? {}).map(([k, v]) => [k, interpolate(String(v))]),
  );
  const templates = readdirSync(join(DOCKER, 'agents')).filter((f) => f.endsWith('.yaml'));

  it('has the services the issue names', () => {
    expect(Object.keys(services).sort()).toEqual(
      ['agent-db-1', 'agent-db-2', 'bind9', 'orchestrator', 'postgres', 'redis', 'register'].sort(),
    );
    expect(services.postgres.image).toBe('postgres:15');
    expect(services.redis.image).toBe('redis:7');
    expect(services.bind9.image).toMatch(/^internetsystemsconsortium\/bind9:/);
  });

  it("the orchestrator's environment passes its config validation and points at the compose services", () => {
    const config = loadOrchestratorConfig(env);
    expect(config.DNS_PROVIDER).toBe('rfc2136');
    expect(new URL(config.DATABASE_URL).hostname).toBe('postgres');
    expect(new URL(config.REDIS_URL).hostname).toBe('redis');
    expect(config.RFC2136_SERVER).toBe(ip('bind9'));
    expect(env.POSTGRES_PASSWORD ?? interpolate(services.postgres.environment!.POSTGRES_PASSWORD)).toBe(
      new URL(config.DATABASE_URL).password,
    );
  });

  it('the TSIG key and zone agree between compose and BIND', () => {
    const key = read('bind9/ha-orchestrator.key');
    expect(key).toContain(`key "${env.RFC2136_KEY_NAME}"`);
    expect(key).toContain('algorithm hmac-sha256;');
    expect(key).toContain(`secret "${env.RFC2136_KEY_SECRET}";`);
    const named = read('bind9/named.conf');
    const zone = services.register.environment!.DEMO_ZONE;
    expect(named).toContain(`zone "${zone}"`);
    expect(named).toContain(`grant ${env.RFC2136_KEY_NAME} zonesub ANY;`);
    expect(read(`bind9/${zone}.zone`)).toContain(`$ORIGIN ${zone}.`);
    expect(services.register.environment!.DEMO_RECORD.endsWith(`.${zone}`)).toBe(true);
  });

  it("BIND accepts docker/bind9 as written, and the orchestrator's key may update the zone", async () => {
    // The same files with the container paths and port 53 swapped for a temporary directory and a
    // free port, run by the local named.
    rootLogger.level = process.env.TEST_LOG_LEVEL ?? 'silent';
    const dir = await mkdtemp(join(tmpdir(), 'ha-compose-bind-'));
    const port = await new Promise<number>((resolve) => {
      const srv = createServer().listen(0, '127.0.0.1', () => {
        const p = (srv.address() as { port: number }).port;
        srv.close(() => resolve(p));
      });
    });
    const zone = services.register.environment!.DEMO_ZONE;
    const conf = read('bind9/named.conf')
      .replace('/etc/bind/ha-orchestrator.key', join(dir, 'ha-orchestrator.key'))
      .replace(
        'directory "/var/cache/bind";',
        `directory "${dir}"; pid-file "${dir}/named.pid"; session-keyfile "${dir}/session.key"; managed-keys-directory "${dir}";`,
      )
      .replace('listen-on port 53 { any; };', `listen-on port ${port} { 127.0.0.1; };`)
      .replace(`/var/lib/bind/${zone}.zone`, join(dir, `${zone}.zone`));
    expect(conf.replace(/\/\/.*$/gm, '')).not.toMatch(/\/etc\/bind|\/var\/(lib|cache)\/bind|port 53 /);
    await writeFile(join(dir, 'named.conf'), `${conf}\ncontrols { };\n`);
    await writeFile(join(dir, 'ha-orchestrator.key'), read('bind9/ha-orchestrator.key'));
    await writeFile(join(dir, `${zone}.zone`), read(`bind9/${zone}.zone`));
    let output = '';
    const named: ChildProcess = spawn('/usr/sbin/named', ['-g', '-c', join(dir, 'named.conf')], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    named.stdout!.on('data', (d) => (output += String(d)));
    named.stderr!.on('data', (d) => (output += String(d)));
    try {
      const provider = createRfc2136Provider(
        loadOrchestratorConfig({ ...env, RFC2136_SERVER: '127.0.0.1', RFC2136_PORT: String(port) }),
      );
      const record = { zone, name: services.register.environment!.DEMO_RECORD, type: 'A' as const, ttl: 5 };
      await waitFor(
        `named on port ${port}`,
        async () => {
          if (named.exitCode !== null) throw new Error('named exited');
          await provider.query(record);
          return true;
        },
        15_000,
        100,
      );
      await provider.apply({ ...record, value: ip('agent-db-1')!, epoch: 1, scenarioId: 'compose-check' });
      expect(await provider.query(record)).toEqual([ip('agent-db-1')]);
    } catch (err) {
      throw new Error(`${(err as Error).message}\n--- named output ---\n${output}`);
    } finally {
      named.kill('SIGTERM');
      await new Promise((r) => (named.exitCode !== null ? r(null) : named.once('exit', r)));
      await rm(dir, { recursive: true, force: true });
    }
  });

  it.each(templates)(
    'agent config %s passes the agent validation and matches its compose service',
    (file) => {
      const config = loadAgentConfig(join(DOCKER, 'agents', file));
      const service = services[`agent-${config.nodeName}`];
      expect(service).toBeDefined();
      expect(service.command).toEqual(['--config', `/config/${config.nodeName}.yaml`]);
      expect(service.networks?.ha?.ipv4_address).toBe(config.listen.host);
      expect(service.healthcheck?.test.join(' ')).toContain(
        `http://${config.listen.host}:${config.listen.port}/healthz`,
      );
      expect(service.depends_on?.register?.condition).toBe('service_completed_successfully');
      expect(config.orchestrators).toEqual([`http://${ip('orchestrator')}:${env.HTTP_PORT}`]);
      expect(config.stateFile.startsWith('/var/lib/ha-agent/')).toBe(true);
      expect(Object.keys(config.actions)).toEqual(expect.arrayContaining(['promote', 'demote', 'fence']));
    },
  );

  it.each(['orchestrator.Dockerfile', 'agent.Dockerfile'])(
    '%s: multi-stage, npm ci + build, ping, non-root',
    (file) => {
      const text = read(file);
      expect(text).toMatch(/ARG NODE_IMAGE=node:20-bookworm-slim/);
      expect(text.match(/^FROM /gm)?.length).toBeGreaterThanOrEqual(2);
      expect(text).toMatch(/RUN npm ci/);
      expect(text).toMatch(/RUN npm run build/);
      expect(text).toMatch(/iputils-ping/);
      expect(text).toMatch(/^USER node$/m);
    },
  );
});
