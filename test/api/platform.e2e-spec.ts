/**
 * Health, metrics, request ids, and the OpenAPI document: every route the app registers is in
 * the document (and nothing else is), and the DTOs carry examples.
 */
import { NestFastifyApplication } from '@nestjs/platform-fastify';
import { createApp } from '../../apps/orchestrator/src/bootstrap';
import { loadConfig } from '../../apps/orchestrator/src/config/app-config';
import { http, TestEnv, testEnv } from '../support/orchestrator';

/** Routes that are deliberately not in the document. */
const UNDOCUMENTED = new Set([
  'GET /metrics', // Prometheus text format (ApiExcludeEndpoint)
]);
interface PropertySchema {
  example?: unknown;
  $ref?: string;
  items?: { $ref?: string };
  allOf?: unknown[];
}
interface Operation {
  summary?: string;
  security?: unknown;
  parameters?: { name: string; in: string }[];
  responses: Record<string, { content?: Record<string, { schema?: unknown }> }>;
}
interface OpenApiDoc {
  paths: Record<string, Record<string, Operation>>;
  components: {
    schemas: Record<string, { properties?: Record<string, PropertySchema>; required?: string[] }>;
    securitySchemes?: Record<string, unknown>;
  };
}

const isDocsRoute = (url: string) => /^\/api\/(docs|openapi\.(json|yaml))/.test(url);

describe('platform endpoints', () => {
  let env: TestEnv;
  let app: NestFastifyApplication;
  let url = '';
  const registered: { method: string; url: string }[] = [];

  beforeAll(async () => {
    env = testEnv('platform', { DNS_PORT: '0' });
    app = await createApp(loadConfig(env.env));
    // Nest registers its routes at init (listen), after this hook is in place.
    app
      .getHttpAdapter()
      .getInstance()
      .addHook('onRoute', (route) => {
        for (const method of [route.method].flat())
          registered.push({ method: String(method), url: route.url ?? '' });
      });
    await app.listen({ host: '127.0.0.1', port: 0 });
    url = `http://127.0.0.1:${(app.getHttpServer().address() as { port: number }).port}`;
  });
  afterAll(async () => {
    await app?.close();
    await env?.cleanup();
  });

  it('/health/live answers 200', async () => {
    const r = await http(url, 'GET', '/health/live');
    expect(r.status).toBe(200);
    expect(r.body).toEqual({ status: 'ok' });
  });

  it('/health/ready answers 200 with postgres and redis up', async () => {
    const r = await http(url, 'GET', '/health/ready');
    expect(r.status).toBe(200);
    expect(r.body).toMatchObject({
      status: 'ok',
      info: { postgres: { status: 'up' }, redis: { status: 'up' } },
    });
  });

  it('/metrics is Prometheus text with ha_http_requests_total per route', async () => {
    await http(url, 'GET', '/api/v1/nodes', { token: env.adminToken });
    const r = await http(url, 'GET', '/metrics');
    expect(r.status).toBe(200);
    expect(r.headers.get('content-type')).toMatch(/^text\/plain/);
    expect(r.body).toContain('# TYPE ha_http_requests_total counter');
    expect(r.body).toMatch(
      /ha_http_requests_total\{method="GET",route="\/api\/v1\/nodes",status="200"\} [1-9]/,
    );
    expect(r.body).toContain('ha_process_');
  });

  it('every response carries an x-request-id header (success, errors, unknown routes, docs)', async () => {
    const calls: [string, string, Record<string, string>?, string?][] = [
      ['GET', '/health/live'],
      ['GET', '/health/ready'],
      ['GET', '/metrics'],
      ['GET', '/api/openapi.json'],
      ['GET', '/api/v1/nodes', { authorization: `Bearer ${env.adminToken}` }],
      ['GET', '/api/v1/nodes'],
      ['GET', '/api/v1/nodes/not-a-uuid', { authorization: `Bearer ${env.adminToken}` }],
      ['GET', '/no/such/route'],
      [
        'POST',
        '/api/v1/groups',
        { authorization: `Bearer ${env.adminToken}`, 'content-type': 'text/plain' },
        'x',
      ],
      [
        'POST',
        '/api/v1/groups',
        { authorization: `Bearer ${env.adminToken}`, 'content-type': 'application/json' },
        '{',
      ],
    ];
    const seen = new Set<string>();
    for (const [method, path, headers, rawBody] of calls) {
      const r = await http(url, method, path, { headers, rawBody });
      const id = r.headers.get('x-request-id');
      expect([method, path, id]).toEqual([method, path, expect.stringMatching(/^[0-9a-f-]{36}$/)]);
      seen.add(id!);
      if (r.status >= 400) expect(r.body.requestId).toBe(id);
    }
    expect(seen.size).toBe(calls.length);
  });

  it('echoes a well-formed x-request-id from the caller and replaces a malformed one', async () => {
    const given = await http(url, 'GET', '/health/live', { headers: { 'x-request-id': 'noc-check.42' } });
    expect(given.headers.get('x-request-id')).toBe('noc-check.42');
    const bad = await http(url, 'GET', '/health/live', {
      headers: { 'x-request-id': 'has spaces and {braces}' },
    });
    expect(bad.headers.get('x-request-id')).toMatch(/^[0-9a-f-]{36}$/);
  });

  describe('OpenAPI document', () => {
    let doc: OpenApiDoc;
    beforeAll(async () => {
      const r = await http(url, 'GET', '/api/openapi.json');
      expect(r.status).toBe(200);
      doc = r.body;
    });

    const documented = () =>
      Object.entries(doc.paths).flatMap(([path, ops]) =>
        Object.keys(ops)
          .filter((m) => ['get', 'post', 'put', 'patch', 'delete'].includes(m))
          .map((m) => `${m.toUpperCase()} ${path}`),
      );
    const routes = () =>
      [
        ...new Set(
          registered
            .filter((r) => !['HEAD', 'OPTIONS'].includes(r.method) && !isDocsRoute(r.url))
            .map((r) => `${r.method} ${r.url.replace(/:([A-Za-z0-9_]+)/g, '{$1}')}`),
        ),
      ].sort();

    it('lists every route the app registers, and only those', () => {
      expect(routes().length).toBeGreaterThan(20);
      // Sanity: the capture saw this routes.
      expect(routes()).toEqual(
        expect.arrayContaining([
          'POST /api/v1/tokens',
          'PUT /api/v1/groups/{id}/members',
          'DELETE /api/v1/groups/{id}/members/{scenarioId}',
          'GET /api/v1/audit',
        ]),
      );
      const missing = routes().filter((r) => !UNDOCUMENTED.has(r) && !documented().includes(r));
      expect(missing).toEqual([]);
      const phantom = documented().filter((d) => !routes().includes(d));
      expect(phantom).toEqual([]);
    });

    it('documents auth, a summary and a typed success response for the groups, tokens and audit endpoints', () => {
      expect(Object.keys(doc.components.securitySchemes ?? {})).toContain('bearer');
      for (const [path, ops] of Object.entries(doc.paths)) {
        if (!/^\/api\/v1\/(groups|tokens|audit)/.test(path)) continue;
        for (const [method, op] of Object.entries(ops)) {
          const where = `${method.toUpperCase()} ${path}`;
          expect([where, op.summary]).toEqual([where, expect.any(String)]);
          expect([where, op.security]).toEqual([where, [{ bearer: [] }]]);
          const success = Object.entries(op.responses).find(([code]) => /^2/.test(code));
          expect([where, success]).toEqual([where, expect.anything()]);
          if (success![0] !== '204') {
            expect([where, success![1].content?.['application/json']?.schema]).toEqual([
              where,
              expect.anything(),
            ]);
          }
        }
      }
    });

    it('gives every property of the new DTOs an example', () => {
      const schemas = [
        'CreateTokenDto',
        'TokenView',
        'TokenCreatedView',
        'TokenPage',
        'CreateGroupDto',
        'UpdateGroupDto',
        'SetGroupMembersDto',
        'GroupView',
        'GroupPage',
        'AuditEntryView',
        'AuditPage',
      ];
      for (const name of schemas) {
        const schema = doc.components.schemas[name];
        expect([name, schema]).toEqual([name, expect.anything()]);
        for (const [prop, def] of Object.entries(schema.properties ?? {})) {
          const hasExample = def.example !== undefined || def.$ref || def.items?.$ref || def.allOf;
          expect([name, prop, Boolean(hasExample)]).toEqual([name, prop, true]);
        }
      }
      expect(doc.components.schemas.CreateGroupDto.required).toEqual(['name']);
      expect(doc.components.schemas.CreateTokenDto.required).toEqual(['name', 'role']);
      expect(doc.components.schemas.SetGroupMembersDto.required).toEqual(['scenarioIds']);
    });

    it('documents the Idempotency-Key header and its 422 on every POST', () => {
      // Heartbeats are not keyed: each carries its own (bootId, seq), and a replay is ignored by that.
      const posts = Object.entries(doc.paths).filter(
        ([path, ops]) => ops.post && path !== '/api/v1/heartbeats',
      );
      expect(posts.length).toBeGreaterThan(5);
      for (const [path, ops] of posts) {
        const header = (ops.post.parameters ?? []).find(
          (p) => p.in === 'header' && p.name === 'Idempotency-Key',
        );
        expect([path, header]).toEqual([path, expect.objectContaining({ required: false })]);
        expect([path, ops.post.responses['422']]).toEqual([path, expect.anything()]);
      }
    });

    it('documents the query parameters of the list endpoints', () => {
      const params = (path: string) =>
        (doc.paths[path].get.parameters ?? [])
          .filter((p) => p.in === 'query')
          .map((p) => p.name)
          .sort();
      expect(params('/api/v1/groups')).toEqual(['limit', 'offset', 'scenarioId']);
      expect(params('/api/v1/audit')).toEqual([
        'action',
        'actor',
        'limit',
        'offset',
        'targetId',
        'targetType',
      ]);
      expect(params('/api/v1/tokens')).toEqual(['includeRevoked', 'limit', 'offset']);
    });
  });
});
