/**
 * A fuzzer of our own for the REST API, driven by the OpenAPI document the orchestrator serves:
 * for every operation it builds a plausible request from the schema, then breaks it (types,
 * ranges, sizes, depth, encoding, structure, content type, auth) with fast-check arbitraries from
 * one seed, and checks every answer: never a 5xx, never a 2xx without a valid token, the process
 * stays up, and a refused request leaves the stored state as it was.
 */
import fc from 'fast-check';
import { Client } from 'pg';

export type Json = null | boolean | number | string | Json[] | { [k: string]: Json };

interface OpenApiSchema {
  $ref?: string;
  type?: string;
  format?: string;
  enum?: unknown[];
  example?: unknown;
  minimum?: number;
  maximum?: number;
  items?: OpenApiSchema;
  properties?: Record<string, OpenApiSchema>;
  required?: string[];
  allOf?: OpenApiSchema[];
  nullable?: boolean;
}

interface OpenApiParameter {
  name: string;
  in: 'path' | 'query' | 'header';
  required?: boolean;
  schema?: OpenApiSchema;
}

interface OpenApiOperation {
  parameters?: OpenApiParameter[];
  requestBody?: { content?: Record<string, { schema?: OpenApiSchema }> };
  security?: unknown[];
}

export interface OpenApiDoc {
  paths: Record<string, Record<string, OpenApiOperation>>;
  components?: { schemas?: Record<string, OpenApiSchema> };
}

export interface Endpoint {
  method: string;
  path: string;
  params: OpenApiParameter[];
  body?: OpenApiSchema;
  secured: boolean;
}

export interface FuzzContext {
  baseUrl: string;
  tokens: { admin: string; viewer: string; agent: string };
  /** Real ids, so some requests reach deep validation of existing things. */
  ids: string[];
}

export type AuthKind = 'admin' | 'viewer' | 'agent' | 'none' | 'wrong';

export interface FuzzRequest {
  endpoint: Endpoint;
  method: string;
  url: string;
  auth: AuthKind;
  contentType: string | null;
  body: string | undefined;
  idempotencyKey?: string;
  /** What was broken, for the report. */
  mutation: string;
}

export interface FuzzFinding {
  kind: '5xx' | 'unauthenticated-2xx' | 'state-changed' | 'process-down' | 'network-error';
  request: string;
  status?: number;
  detail?: string;
}

export function endpointsOf(doc: OpenApiDoc): Endpoint[] {
  const out: Endpoint[] = [];
  for (const [path, methods] of Object.entries(doc.paths)) {
    for (const [method, op] of Object.entries(methods)) {
      if (!['get', 'post', 'put', 'patch', 'delete'].includes(method)) continue;
      out.push({
        method: method.toUpperCase(),
        path,
        params: op.parameters ?? [],
        body: op.requestBody?.content?.['application/json']?.schema,
        secured: (op.security ?? []).length > 0,
      });
    }
  }
  return out.sort((a, b) => `${a.path} ${a.method}`.localeCompare(`${b.path} ${b.method}`));
}

// ---- arbitraries --------------------------------------------------------------------------

const NASTY_STRINGS = [
  '',
  '\u0000',
  'a\u0000b',
  '\ud800',
  '\udfff',
  'x\ud800y',
  '\ud83d',
  '%00',
  '..%2F..%2Fetc%2Fpasswd',
  '../../../etc/passwd',
  "'; DROP TABLE nodes; --",
  '${jndi:ldap://127.0.0.1/x}',
  '<script>alert(1)</script>',
  '\u202e\u0007\u001b[31m',
  '🙂'.repeat(40),
  'NaN',
  'null',
  '__proto__',
  ' ',
  '\r\nX-Injected: 1',
];

export const hostileString: fc.Arbitrary<string> = fc.oneof(
  { weight: 4, arbitrary: fc.constantFrom(...NASTY_STRINGS) },
  { weight: 2, arbitrary: fc.string({ maxLength: 40 }) },
  { weight: 2, arbitrary: fc.string({ unit: 'binary', maxLength: 24 }) },
  { weight: 1, arbitrary: fc.integer({ min: 1025, max: 300_000 }).map((n) => 'x'.repeat(n)) },
  { weight: 1, arbitrary: fc.uuid() },
);

const hostileNumber: fc.Arbitrary<number> = fc.oneof(
  fc.constantFrom(-1, 0, 0.5, -0.0, 2 ** 31, 2 ** 31 - 1, 2 ** 53 + 2, 1e300, -1e300, 65536, 86_400_001),
  fc.integer(),
  fc.double({ noNaN: true, noDefaultInfinity: true }),
);

/** A JSON value of the wrong kind for almost any field. */
export const hostileValue: fc.Arbitrary<Json> = fc.oneof(
  { weight: 3, arbitrary: hostileString },
  { weight: 2, arbitrary: hostileNumber },
  { weight: 1, arbitrary: fc.constantFrom<Json>(true, false, null, [], {}, [null], { '': '' }) },
  { weight: 1, arbitrary: fc.array(hostileString, { maxLength: 5 }) },
  {
    weight: 1,
    arbitrary: fc.integer({ min: 10_001, max: 30_000 }).map((n) => Array.from({ length: n }, () => 1)),
  },
  {
    weight: 1,
    arbitrary: fc.dictionary(hostileString, fc.oneof(hostileString, hostileNumber), { maxKeys: 4 }),
  },
);

const DEEP = '"__FUZZ_DEEP__"';

/** Nested arrays/objects this deep, as JSON text (JSON.stringify itself would recurse). */
export function deepText(depth: number, kind: 'array' | 'object'): string {
  return kind === 'array'
    ? '['.repeat(depth) + ']'.repeat(depth)
    : '{"a":'.repeat(depth) + '1' + '}'.repeat(depth);
}

export const RAW_BODIES = [
  '{"a":',
  '{',
  'nul',
  '[1,2',
  '"just a string"',
  '12',
  'null',
  '[]',
  '1e400',
  '{"__proto__":{"admin":true}}',
  '{"constructor":{"prototype":{"admin":true}}}',
  '\uFEFF{}',
  '{"a":1,"a":2}',
];

// ---- building requests from the schema ------------------------------------------------------

function resolve(doc: OpenApiDoc, schema: OpenApiSchema | undefined): OpenApiSchema | undefined {
  let s = schema;
  for (let i = 0; s?.$ref && i < 10; i++) s = doc.components?.schemas?.[s.$ref.split('/').pop()!];
  if (s?.allOf?.length) return resolve(doc, s.allOf[0]);
  return s;
}

/** A plausible value for a schema (the starting point the mutations break). */
function plausible(doc: OpenApiDoc, schema: OpenApiSchema | undefined, ctx: FuzzContext, depth = 0): Json {
  const s = resolve(doc, schema);
  if (!s || depth > 6) return null;
  if (s.example !== undefined) return s.example as Json;
  if (s.enum?.length) return s.enum[0] as Json;
  switch (s.type) {
    case 'string':
      if (s.format === 'uuid') return ctx.ids[0] ?? '00000000-0000-4000-8000-000000000000';
      if (s.format === 'date-time') return new Date().toISOString();
      return 'fuzz';
    case 'integer':
    case 'number':
      return s.minimum ?? 1;
    case 'boolean':
      return true;
    case 'array':
      return [plausible(doc, s.items, ctx, depth + 1)];
    default: {
      const out: Record<string, Json> = {};
      for (const [k, v] of Object.entries(s.properties ?? {})) out[k] = plausible(doc, v, ctx, depth + 1);
      return out;
    }
  }
}

/** Every path to a leaf or container inside a value (for choosing what to break). */
function pathsIn(
  value: Json,
  prefix: (string | number)[] = [],
  out: (string | number)[][] = [],
): (string | number)[][] {
  out.push(prefix);
  if (out.length > 200) return out;
  if (Array.isArray(value)) value.forEach((v, i) => pathsIn(v, [...prefix, i], out));
  else if (value && typeof value === 'object')
    for (const [k, v] of Object.entries(value)) pathsIn(v, [...prefix, k], out);
  return out;
}

function setAt(value: Json, path: (string | number)[], replacement: Json | undefined): Json {
  if (path.length === 0) return replacement ?? null;
  const clone = JSON.parse(JSON.stringify(value)) as Json;
  let cur = clone as Record<string | number, Json>;
  for (const key of path.slice(0, -1)) cur = cur[key] as Record<string | number, Json>;
  const last = path[path.length - 1];
  if (replacement === undefined) {
    if (Array.isArray(cur)) cur.splice(Number(last), 1);
    else delete cur[last];
  } else cur[last] = replacement;
  return clone;
}

function encodeSegment(text: string): string {
  try {
    return encodeURIComponent(text);
  } catch {
    return '%ED%A0%80'; // a lone surrogate, as the bytes a client would send
  }
}

interface Choice {
  auth: AuthKind;
  contentType: string | null;
  bodyMode:
    | 'plausible'
    | 'mutated'
    | 'missing-field'
    | 'unknown-field'
    | 'wrapped'
    | 'hostile'
    | 'raw'
    | 'deep'
    | 'deep-field'
    | 'none';
  pick: number;
  value: Json;
  rawBody: string;
  deepDepth: number;
  deepKind: 'array' | 'object';
  pathValues: string[];
  query: Array<[string, string]>;
  extraQuery: boolean;
  idempotencyKey: string | null;
}

const choiceArb = (ctx: FuzzContext): fc.Arbitrary<Choice> =>
  fc.record({
    auth: fc.oneof(
      { weight: 6, arbitrary: fc.constant<AuthKind>('admin') },
      { weight: 1, arbitrary: fc.constantFrom<AuthKind>('viewer', 'agent', 'none', 'wrong') },
    ),
    contentType: fc.oneof(
      { weight: 8, arbitrary: fc.constant('application/json') },
      {
        weight: 1,
        arbitrary: fc.constantFrom(
          null,
          'text/plain',
          'application/x-www-form-urlencoded',
          'multipart/form-data; boundary=x',
          'application/json; charset=latin1',
          'application/xml',
        ),
      },
    ),
    bodyMode: fc.constantFrom<Choice['bodyMode']>(
      'plausible',
      'mutated',
      'mutated',
      'mutated',
      'missing-field',
      'unknown-field',
      'wrapped',
      'hostile',
      'raw',
      'deep',
      'deep-field',
      'none',
    ),
    pick: fc.nat(),
    value: hostileValue,
    rawBody: fc.constantFrom(...RAW_BODIES),
    deepDepth: fc.integer({ min: 33, max: 20_000 }),
    deepKind: fc.constantFrom<'array' | 'object'>('array', 'object'),
    pathValues: fc.array(
      fc.oneof(
        { weight: 3, arbitrary: ctx.ids.length ? fc.constantFrom(...ctx.ids) : fc.uuid() },
        { weight: 1, arbitrary: fc.uuid() },
        { weight: 2, arbitrary: hostileString.filter((s) => s.length < 2000) },
      ),
      { minLength: 3, maxLength: 3 },
    ),
    query: fc.array(
      fc
        .tuple(
          fc.nat(),
          hostileString.filter((s) => s.length < 3000),
        )
        .map(([i, v]) => [String(i), v] as [string, string]),
      {
        maxLength: 3,
      },
    ),
    extraQuery: fc.boolean(),
    // Header values a client can send at all: printable ASCII (the server sees every other byte refused by Node).
    idempotencyKey: fc.option(
      fc.string({
        unit: fc.integer({ min: 0x20, max: 0x7e }).map((c) => String.fromCharCode(c)),
        maxLength: 300,
      }),
      { freq: 5 },
    ),
  });

export function buildRequest(doc: OpenApiDoc, endpoint: Endpoint, c: Choice, ctx: FuzzContext): FuzzRequest {
  let p = 0;
  const path = endpoint.path.replace(/\{[^}]+\}/g, () =>
    encodeSegment(c.pathValues[p++ % c.pathValues.length]),
  );
  const queryParams = endpoint.params.filter((x) => x.in === 'query');
  const qs = new URLSearchParams();
  for (const [i, v] of c.query) {
    const param = queryParams.length ? queryParams[Number(i) % queryParams.length].name : `q${i}`;
    try {
      qs.append(c.extraQuery ? `${param}x` : param, v.isWellFormed() ? v : `${v.toWellFormed()}`);
    } catch {
      /* not encodable */
    }
  }
  let mutation: string = c.bodyMode;
  let body: string | undefined;
  const base = endpoint.body ? plausible(doc, endpoint.body, ctx) : {};
  switch (c.bodyMode) {
    case 'none':
      body = undefined;
      break;
    case 'plausible':
      body = JSON.stringify(base);
      break;
    case 'mutated': {
      const paths = pathsIn(base);
      const at = paths[c.pick % paths.length];
      mutation = `mutated ${at.join('.') || 'body'}`;
      body = JSON.stringify(setAt(base, at, c.value));
      break;
    }
    case 'missing-field': {
      const paths = pathsIn(base).filter((x) => x.length > 0);
      const at = paths.length ? paths[c.pick % paths.length] : [];
      mutation = `missing ${at.join('.')}`;
      body = JSON.stringify(at.length ? setAt(base, at, undefined) : base);
      break;
    }
    case 'unknown-field':
      body = JSON.stringify({
        ...(base && typeof base === 'object' && !Array.isArray(base) ? base : {}),
        fuzzExtra: c.value,
      });
      break;
    case 'wrapped':
      body = JSON.stringify([base]);
      break;
    case 'hostile':
      body = JSON.stringify(c.value);
      break;
    case 'raw':
      mutation = `raw ${JSON.stringify(c.rawBody)}`;
      body = c.rawBody;
      break;
    case 'deep':
      mutation = `deep ${c.deepKind} ${c.deepDepth}`;
      body = deepText(c.deepDepth, c.deepKind);
      break;
    case 'deep-field': {
      const paths = pathsIn(base).filter((x) => x.length > 0);
      const at = paths.length ? paths[c.pick % paths.length] : ['fuzz'];
      mutation = `deep ${c.deepKind} ${c.deepDepth} at ${at.join('.')}`;
      body = JSON.stringify(setAt(base, at, DEEP.slice(1, -1))).replace(
        DEEP,
        deepText(c.deepDepth, c.deepKind),
      );
      break;
    }
  }
  const query = qs.toString();
  return {
    endpoint,
    method: endpoint.method,
    url: `${ctx.baseUrl}${path}${query ? `?${query}` : ''}`,
    auth: c.auth,
    contentType: body === undefined ? null : c.contentType,
    body,
    idempotencyKey: c.idempotencyKey ?? undefined,
    mutation,
  };
}

export function generateRequests(
  doc: OpenApiDoc,
  ctx: FuzzContext,
  seed: number,
  count: number,
): FuzzRequest[] {
  const endpoints = endpointsOf(doc);
  const arb = fc.tuple(fc.nat({ max: endpoints.length - 1 }), choiceArb(ctx));
  return fc.sample(arb, { seed, numRuns: count }).map(([i, c], n) => {
    // Every endpoint at least once per round, then a random one.
    const endpoint = n < endpoints.length ? endpoints[n] : endpoints[i];
    return buildRequest(doc, endpoint, c, ctx);
  });
}

// ---- sending and checking ---------------------------------------------------------------------

export function describeRequest(r: FuzzRequest): string {
  const body = r.body === undefined ? '' : ` body(${r.body.length}B)=${r.body.slice(0, 160)}`;
  return `${r.method} ${r.url.slice(0, 300)} auth=${r.auth} ct=${r.contentType} [${r.mutation}]${body}`;
}

export async function send(r: FuzzRequest, ctx: FuzzContext): Promise<{ status: number; text: string }> {
  const headers: Record<string, string> = {};
  const token =
    r.auth === 'admin'
      ? ctx.tokens.admin
      : r.auth === 'viewer'
        ? ctx.tokens.viewer
        : r.auth === 'agent'
          ? ctx.tokens.agent
          : r.auth === 'wrong'
            ? 'hat_wrong_token_0000000000000000'
            : undefined;
  if (token) headers.authorization = `Bearer ${token}`;
  if (r.contentType) headers['content-type'] = r.contentType;
  if (r.idempotencyKey) headers['idempotency-key'] = r.idempotencyKey;
  const res = await fetch(r.url, {
    method: r.method,
    headers,
    // fetch refuses a body on GET; a GET's query and path are what get fuzzed there.
    body: r.method === 'GET' ? undefined : r.body,
    signal: AbortSignal.timeout(15_000),
  });
  // A live stream (SSE) that was accepted stays open: its status and headers are the answer.
  if (res.ok && (res.headers.get('content-type') ?? '').startsWith('text/event-stream')) {
    await res.body?.cancel();
    return { status: res.status, text: '' };
  }
  return { status: res.status, text: await res.text() };
}

const MUTATING = new Set(['POST', 'PUT', 'PATCH', 'DELETE']);

/**
 * What a refused request must not change: configuration (nodes, scenarios, groups, tokens,
 * settings) in full, and how many audit entries and operations exist. What the background changes
 * on its own (an accepted operation moving a scenario's state, writing DNS records, auditing its
 * outcome) is left out.
 */
export async function stateFingerprint(db: Client, schema: string): Promise<string> {
  const t = (name: string) => `"${schema}".${name}`;
  const digest = (table: string, drop: string[] = []) =>
    `(SELECT md5(coalesce(string_agg((to_jsonb(x) - ARRAY[${drop.map((d) => `'${d}'`).join(',') || "''"}]::text[])::text, ',' ORDER BY to_jsonb(x)::text), '')) FROM ${t(table)} x)`;
  const rows = await db.query(
    `SELECT ${digest('nodes')} AS nodes,
            ${digest('scenarios', ['state', 'epoch', 'updatedAt', 'holdUntil', 'activeNodeId'])} AS scenarios,
            ${digest('scenario_replicas')} AS replicas,
            ${digest('groups')} AS groups,
            ${digest('group_members')} AS members,
            ${digest('api_tokens')} AS tokens,
            ${digest('settings', ['updatedAt'])} AS settings,
            (SELECT count(*) FROM ${t('audit_log')}
              WHERE action NOT LIKE 'operation.%.succeeded' AND action NOT LIKE 'operation.%.failed') AS audit,
            (SELECT count(*) FROM ${t('operations')}) AS operations`,
  );
  return JSON.stringify(rows.rows[0]);
}

export interface FuzzRunResult {
  sent: number;
  statuses: Record<string, number>;
  findings: FuzzFinding[];
}

export async function runFuzz(options: {
  doc: OpenApiDoc;
  ctx: FuzzContext;
  seed: number;
  count: number;
  db: Client;
  schema: string;
  alive: () => Promise<boolean>;
}): Promise<FuzzRunResult> {
  const { doc, ctx, seed, count, db, schema } = options;
  const requests = generateRequests(doc, ctx, seed, count);
  const findings: FuzzFinding[] = [];
  const statuses: Record<string, number> = {};
  let baseline = await stateFingerprint(db, schema);
  let sent = 0;
  for (const r of requests) {
    let res: { status: number; text: string };
    try {
      res = await send(r, ctx);
    } catch (err) {
      // The client could not even send it (a header fetch refuses): not a server answer.
      if ((err as Error).name === 'TypeError' && !(err as { cause?: unknown }).cause) continue;
      findings.push({
        kind: 'network-error',
        request: describeRequest(r),
        detail: String((err as Error).message),
      });
      if (!(await options.alive())) {
        findings.push({ kind: 'process-down', request: describeRequest(r) });
        break;
      }
      continue;
    }
    sent++;
    const cls = `${Math.floor(res.status / 100)}xx`;
    statuses[res.status] = (statuses[res.status] ?? 0) + 1;
    if (res.status >= 500)
      findings.push({
        kind: '5xx',
        request: describeRequest(r),
        status: res.status,
        detail: res.text.slice(0, 300),
      });
    const authenticated =
      r.auth === 'admin' ||
      r.auth === 'viewer' ||
      (r.auth === 'agent' && r.endpoint.path === '/api/v1/heartbeats');
    if (cls === '2xx' && r.endpoint.secured && !authenticated) {
      findings.push({ kind: 'unauthenticated-2xx', request: describeRequest(r), status: res.status });
    }
    if (MUTATING.has(r.method)) {
      const now = await stateFingerprint(db, schema);
      if (res.status >= 400 && now !== baseline) {
        const before = JSON.parse(baseline) as Record<string, unknown>;
        const after = JSON.parse(now) as Record<string, unknown>;
        const changed = Object.keys(after).filter((k) => after[k] !== before[k]);
        findings.push({
          kind: 'state-changed',
          request: describeRequest(r),
          status: res.status,
          detail: `${changed.join(',')} changed; answer ${res.text.slice(0, 200)}`,
        });
      }
      baseline = now;
    }
  }
  if (!(await options.alive())) findings.push({ kind: 'process-down', request: 'after the run' });
  return { sent, statuses, findings };
}
