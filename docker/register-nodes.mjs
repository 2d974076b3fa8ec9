/**
 * One-shot set-up step of docker/compose.yaml: registers every node described by an agent config
 * template (/templates/*.yaml) through the orchestrator API, writes the agent's real config (node
 * id, agent token, action token) to /config/<nodeName>.yaml, and creates a demo scenario (first
 * node production, the others replicas) with one DNS record in the BIND zone.
 * Re-running it keeps nodes whose config was already written; it rotates tokens only for a node
 * registered earlier whose config file is missing.
 *
 * Runs in the orchestrator image (node 20, `yaml` in /app/node_modules).
 */
import { readdir, readFile, writeFile, chown } from 'node:fs/promises';
import { join } from 'node:path';
import YAML from 'yaml';

const API = (process.env.ORCHESTRATOR_URL ?? 'http://orchestrator:8080').replace(/\/+$/, '');
const TOKEN = process.env.ADMIN_TOKEN;
const TEMPLATES = process.env.TEMPLATES_DIR ?? '/templates';
const OUT = process.env.CONFIG_DIR ?? '/config';
const OWNER = Number(process.env.CONFIG_UID ?? 1000); // the agent image's "node" user
const ZONE = process.env.DEMO_ZONE ?? 'example.test';
const RECORD = process.env.DEMO_RECORD ?? `app.${ZONE}`;
const SCENARIO = process.env.DEMO_SCENARIO ?? 'demo';

if (!TOKEN) {
  console.error('register: ADMIN_TOKEN is required');
  process.exit(2);
}

async function api(method, path, body) {
  const headers = { authorization: `Bearer ${TOKEN}` };
  if (body !== undefined) headers['content-type'] = 'application/json';
  const res = await fetch(`${API}${path}`, {
    method,
    headers,
    body: body === undefined ? undefined : JSON.stringify(body),
    signal: AbortSignal.timeout(10_000),
  });
  const text = await res.text();
  const json = text ? JSON.parse(text) : undefined;
  if (!res.ok)
    throw Object.assign(new Error(`${method} ${path}: ${res.status} ${json?.message ?? text}`), {
      status: res.status,
    });
  return json;
}

async function waitReady() {
  const deadline = Date.now() + 120_000;
  for (;;) {
    try {
      const res = await fetch(`${API}/health/ready`, { signal: AbortSignal.timeout(2000) });
      if (res.ok) return;
    } catch {
      /* not up yet */
    }
    if (Date.now() > deadline) throw new Error(`orchestrator at ${API} not ready after 120 s`);
    await new Promise((r) => setTimeout(r, 1000));
  }
}

async function existingConfig(name) {
  try {
    return YAML.parse(await readFile(join(OUT, `${name}.yaml`), 'utf8'));
  } catch {
    return undefined;
  }
}

async function main() {
  await waitReady();
  const nodes = (await api('GET', '/api/v1/nodes?limit=500')).items;
  const files = (await readdir(TEMPLATES)).filter((f) => /\.ya?ml$/.test(f)).sort();
  const registered = [];
  for (const file of files) {
    const doc = YAML.parseDocument(await readFile(join(TEMPLATES, file), 'utf8'));
    const name = doc.get('nodeName');
    const listen = doc.get('listen').toJSON();
    const known = nodes.find((n) => n.name === name);
    const written = await existingConfig(name);
    if (known && written?.nodeId === known.id) {
      console.log(`register: ${name} already registered (${known.id}); config kept`);
      registered.push(known.id);
      continue;
    }
    const creds = known
      ? await api('POST', `/api/v1/nodes/${known.id}/rotate-tokens`)
      : await api('POST', '/api/v1/nodes', {
          name,
          address: listen.host,
          agentUrl: `http://${listen.host}:${listen.port}`,
          labels: { source: 'compose' },
        });
    doc.set('nodeId', creds.node.id);
    doc.set('token', creds.agentToken);
    doc.set('actionToken', creds.actionToken);
    const target = join(OUT, `${name}.yaml`);
    await writeFile(target, doc.toString(), { mode: 0o600 });
    await chown(target, OWNER, OWNER);
    console.log(
      `register: ${name} ${known ? 'tokens rotated' : 'registered'} (${creds.node.id}) → ${target}`,
    );
    registered.push(creds.node.id);
  }

  if (registered.length >= 2) {
    try {
      const s = await api('POST', '/api/v1/scenarios', {
        name: SCENARIO,
        productionNodeId: registered[0],
        replicaNodeIds: registered.slice(1),
        dnsRecords: [{ zone: ZONE, name: RECORD, type: 'A', ttl: 5 }],
      });
      console.log(
        `register: scenario ${SCENARIO} created (${s.id}); start it with POST /api/v1/scenarios/${s.id}/start`,
      );
    } catch (err) {
      if (err.status !== 409) throw err;
      console.log(`register: scenario ${SCENARIO} already exists`);
    }
  }
}

main().catch((err) => {
  console.error(`register: ${err.message}`);
  process.exit(1);
});
