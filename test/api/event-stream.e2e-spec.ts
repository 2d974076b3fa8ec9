/**
 * The live event stream (server-sent events) and an operation's stream, read by a real HTTP client.
 * Events are written the way the orchestrator writes them (rows of the events table, some through
 * the API); one is held in an open transaction to show the stream never skips a late commit.
 */
import { http, InProcessOrchestrator } from '../support/orchestrator';
import { createToken, db, startApi } from './api-helpers';

jest.setTimeout(60_000);

interface SseEvent {
  id?: string;
  event: string;
  data: any;
}

/** A streaming client: `next()` gives the next event (or null at the end of the stream). */
async function openStream(
  url: string,
  token: string | null,
  headers: Record<string, string> = {},
): Promise<{
  status: number;
  body: string;
  next(timeoutMs?: number): Promise<SseEvent | null>;
  close(): void;
}> {
  const abort = new AbortController();
  const res = await fetch(url, {
    headers: { ...(token && { authorization: `Bearer ${token}` }), ...headers },
    signal: abort.signal,
  });
  if (!res.headers.get('content-type')?.startsWith('text/event-stream')) {
    return { status: res.status, body: await res.text(), next: async () => null, close: () => abort.abort() };
  }
  const reader = res.body!.getReader();
  const decoder = new TextDecoder();
  let buffer = '';
  const queue: SseEvent[] = [];
  let done = false;
  let reading: Promise<void> | null = null;
  const pump = async (): Promise<void> => {
    const { value, done: end } = await reader.read();
    if (end) {
      done = true;
      return;
    }
    buffer += decoder.decode(value, { stream: true });
    let sep: number;
    while ((sep = buffer.indexOf('\n\n')) >= 0) {
      const block = buffer.slice(0, sep);
      buffer = buffer.slice(sep + 2);
      const e: Partial<SseEvent> = {};
      for (const line of block.split('\n')) {
        if (line.startsWith('id: ')) e.id = line.slice(4);
        else if (line.startsWith('event: ')) e.event = line.slice(7);
        else if (line.startsWith('data: ')) e.data = JSON.parse(line.slice(6));
      }
      if (e.event) queue.push(e as SseEvent);
    }
  };
  return {
    status: res.status,
    body: '',
    async next(timeoutMs = 10_000) {
      const deadline = Date.now() + timeoutMs;
      while (queue.length === 0 && !done) {
        const left = deadline - Date.now();
        if (left <= 0) throw new Error('no event within the timeout');
        // One read at a time: a read left over from an earlier call that timed out is reused.
        reading ??= pump().finally(() => (reading = null));
        let timer: NodeJS.Timeout | undefined;
        await Promise.race([reading, new Promise((r) => (timer = setTimeout(r, left)))]);
        clearTimeout(timer);
      }
      return queue.shift() ?? null;
    },
    close: () => abort.abort(),
  };
}

describe('live event stream (SSE)', () => {
  let o: InProcessOrchestrator;
  let viewer: { token: string };
  const streams: { close(): void }[] = [];
  const scenarioA = '5b0b2f0e-0000-4000-8000-00000000000a';
  const scenarioB = '5b0b2f0e-0000-4000-8000-00000000000b';

  beforeAll(async () => {
    o = await startApi('evstream');
    viewer = await createToken(o, 'stream-viewer', 'viewer');
  });
  afterAll(async () => {
    for (const s of streams) s.close();
    await o.close();
  });

  const open = async (
    path: string,
    headers: Record<string, string> = {},
    token: string | null = viewer.token,
  ) => {
    const s = await openStream(`${o.url}${path}`, token, headers);
    streams.push(s);
    return s;
  };
  const insert = (kind: string, message: string, scenarioId: string | null = scenarioA) =>
    db(o).query(
      `INSERT INTO events (kind, severity, "scenarioId", message) VALUES ($1, 'info', $2, $3) RETURNING id::text AS id`,
      [kind, scenarioId, message],
    ) as Promise<{ id: string }[]>;

  it('delivers new events in order, filtered by scenario and kinds', async () => {
    const s = await open(`/api/v1/events/stream?scenarioId=${scenarioA}&kinds=alert,operation-succeeded`);
    expect(s.status).toBe(200);
    await new Promise((r) => setTimeout(r, 300)); // the stream has taken its starting point
    await insert('alert', 'a1');
    await insert('alert', 'other scenario', scenarioB);
    await insert('verdict-changed', 'not a chosen kind');
    await insert('operation-succeeded', 'a2');
    const first = await s.next();
    const second = await s.next();
    expect([first!.event, first!.data.message]).toEqual(['alert', 'a1']);
    expect([second!.event, second!.data.message]).toEqual(['operation-succeeded', 'a2']);
    expect(Number(second!.id)).toBeGreaterThan(Number(first!.id));
    expect(second!.data).toMatchObject({ scenarioId: scenarioA, severity: 'info', details: {} });
    s.close();
  });

  it('a transaction that commits late is delivered, not skipped, and nothing overtakes it', async () => {
    const s = await open(`/api/v1/events/stream?scenarioId=${scenarioA}`);
    await new Promise((r) => setTimeout(r, 300));
    // Takes the lower event id, commits last.
    const qr = db(o).createQueryRunner();
    await qr.connect();
    try {
      await qr.startTransaction();
      const [late] = await qr.query(
        `INSERT INTO events (kind, severity, "scenarioId", message) VALUES ('alert', 'info', $1, 'late') RETURNING id::text AS id`,
        [scenarioA],
      );
      const [early] = await insert('alert', 'early');
      expect(Number(late.id)).toBeLessThan(Number(early.id));
      // A reader of `id > last` would deliver 'early' now and never 'late'. This one waits.
      await expect(s.next(1000)).rejects.toThrow(/no event/);
      await qr.commitTransaction();
    } finally {
      await qr.release();
    }
    const got = [await s.next(), await s.next()].map((e) => e!.data.message);
    expect(got).toEqual(['late', 'early']);
    s.close();
  });

  it('a reconnect with Last-Event-ID misses nothing written while it was away', async () => {
    const s = await open(`/api/v1/events/stream?scenarioId=${scenarioA}`);
    await new Promise((r) => setTimeout(r, 300));
    await insert('alert', 'before-drop');
    const seen = await s.next();
    s.close();
    const written = [];
    for (let i = 0; i < 5; i++) written.push((await insert('alert', `while-away-${i}`))[0].id);
    // Header (as EventSource sends it) and query parameter both work.
    for (const how of ['header', 'query'] as const) {
      const again =
        how === 'header'
          ? await open(`/api/v1/events/stream?scenarioId=${scenarioA}`, { 'last-event-id': seen!.id! })
          : await open(`/api/v1/events/stream?scenarioId=${scenarioA}&lastEventId=${seen!.id}`);
      const ids = [];
      for (let i = 0; i < 5; i++) ids.push((await again.next())!.id);
      expect(ids).toEqual(written);
      again.close();
    }
  });

  it('an unknown Last-Event-ID says reset and streams from now', async () => {
    const s = await open(`/api/v1/events/stream`, { 'last-event-id': '999999999999' });
    const e = await s.next();
    expect(e!.event).toBe('reset');
    await new Promise((r) => setTimeout(r, 300));
    await insert('alert', 'after-reset');
    expect((await s.next())!.data.message).toBe('after-reset');
    s.close();
  });

  it('an operation stream: its steps in order, then the operation, then the end; a resume sends only what came after', async () => {
    // A forced start of a scenario whose agents do not run: a short operation, all its steps here.
    const admin = o.adminToken;
    const api = (method: string, path: string, body?: unknown) =>
      fetch(`${o.url}${path}`, {
        method,
        headers: { authorization: `Bearer ${admin}`, 'content-type': 'application/json' },
        body: body === undefined ? undefined : JSON.stringify(body),
      }).then(async (r) => ({ status: r.status, body: (await r.json()) as any }));
    const node = async (n: number) =>
      (
        await api('POST', '/api/v1/nodes', {
          name: `st-${n}`,
          address: `127.0.0.${60 + n}`,
          agentUrl: `http://127.0.0.${60 + n}:1`,
        })
      ).body.node.id;
    const [p, r] = [await node(1), await node(2)];
    const sc = await api('POST', '/api/v1/scenarios', {
      name: 'stream-app',
      productionNodeId: p,
      replicaNodeIds: [r],
      dnsRecords: [{ zone: 'example.test', name: 'st.example.test', type: 'A', ttl: 5 }],
    });
    expect(sc.status).toBe(201);
    const op = await api('POST', `/api/v1/scenarios/${sc.body.id}/start`, {
      reason: 'stream test',
      force: true,
    });
    expect(op.status).toBe(202);

    const s = await open(`/api/v1/operations/${op.body.id}/stream`);
    const events: SseEvent[] = [];
    for (let e = await s.next(30_000); e; e = await s.next(30_000)) events.push(e);
    const steps = events.filter((e) => e.event === 'step');
    const last = events[events.length - 1];
    expect(last.event).toBe('operation');
    expect(last.data).toMatchObject({ id: op.body.id, state: 'succeeded' });
    expect(steps.map((e) => [e.data.name, e.data.state]).filter(([, st]) => st !== 'running')).toEqual(
      ['start-checks', 'redirect-dns', 'verify-dns', 'notify', 'audit'].map((n) => [n, 'done']),
    );
    // Positions never go back, ids always go up.
    const ids = events.map((e) => Number(e.id));
    expect([...ids].sort((a, b) => a - b)).toEqual(ids);
    // What GET returns is what the stream ended with.
    const final = (await api('GET', `/api/v1/operations/${op.body.id}`)).body;
    for (const st of final.steps.filter((x: { state: string }) => x.state !== 'pending')) {
      expect(
        steps
          .map((e) => e.data)
          .filter((d) => d.position === st.position)
          .pop(),
      ).toMatchObject({
        state: st.state,
      });
    }

    // Resume after the first step: the rest and the operation, nothing twice.
    const resumed = await open(`/api/v1/operations/${op.body.id}/stream`, { 'last-event-id': steps[0].id! });
    const rest: SseEvent[] = [];
    for (let e = await resumed.next(); e; e = await resumed.next()) rest.push(e);
    // A resume of an ended operation sends each later step's state as it is now: a step the live
    // stream happened to see running (between two polls) comes back once, done.
    const lastOfStep = new Map<number, string>();
    for (const e of events.slice(1)) if (e.event === 'step') lastOfStep.set(e.data.position, e.id!);
    expect(rest.map((e) => e.id)).toEqual(
      events
        .slice(1)
        .filter((e) => e.event !== 'step' || lastOfStep.get(e.data.position) === e.id)
        .map((e) => e.id),
    );
  });

  it('a browser opens a stream with a short-lived ticket instead of the header; the ticket opens nothing else and dies with its token', async () => {
    const issued = await http(o.url, 'POST', '/api/v1/events/stream-ticket', { token: viewer.token });
    expect(issued.status).toBe(201);
    const { ticket, expiresAt } = issued.body;
    expect(ticket).toMatch(/^hst_[A-Za-z0-9_-]{43}$/);
    expect(new Date(expiresAt).getTime() - Date.now()).toBeGreaterThan(30_000);
    const s = await open(`/api/v1/events/stream?scenarioId=${scenarioA}&ticket=${ticket}`, {}, null);
    expect(s.status).toBe(200);
    await new Promise((r) => setTimeout(r, 300));
    await insert('alert', 'via ticket');
    expect((await s.next())!.data.message).toBe('via ticket');
    s.close();
    // not a bearer token, and not for any other route
    expect((await http(o.url, 'GET', '/api/v1/events', { token: ticket })).status).toBe(401);
    const other = await fetch(`${o.url}/api/v1/events?ticket=${ticket}`);
    expect(other.status).toBe(401);
    // unknown, malformed, or from a revoked token: 401
    const unknown = `hst_${'A'.repeat(43)}`;
    expect((await open(`/api/v1/events/stream?ticket=${unknown}`, {}, null)).status).toBe(401);
    expect((await open('/api/v1/events/stream?ticket=hst_short', {}, null)).status).toBe(401);
    const doomed = await createToken(o, 'stream-doomed', 'viewer');
    const t2 = (await http(o.url, 'POST', '/api/v1/events/stream-ticket', { token: doomed.token })).body
      .ticket;
    expect(
      (await http(o.url, 'DELETE', `/api/v1/tokens/${doomed.id}`, { token: o.adminToken })).status,
    ).toBeLessThan(300);
    expect((await open(`/api/v1/events/stream?ticket=${t2}`, {}, null)).status).toBe(401);
    // an operation stream takes it too (404: no such operation, past authentication)
    expect((await open(`/api/v1/operations/${scenarioA}/stream?ticket=${ticket}`, {}, null)).status).toBe(
      404,
    );
    // no ticket for an unauthenticated caller
    expect((await http(o.url, 'POST', '/api/v1/events/stream-ticket', {})).status).toBe(401);
  });

  it('bad input gets a 4xx before any stream starts', async () => {
    const cases: [string, Record<string, string>, string | null, number][] = [
      ['/api/v1/events/stream', {}, null, 401],
      ['/api/v1/events/stream', {}, 'not-a-token', 401],
      ['/api/v1/events/stream?scenarioId=nope', {}, viewer.token, 400],
      ['/api/v1/events/stream?kinds=alert,bogus', {}, viewer.token, 400],
      ['/api/v1/events/stream', { 'last-event-id': 'abc' }, viewer.token, 400],
      ['/api/v1/events/stream?lastEventId=-1', {}, viewer.token, 400],
      [`/api/v1/events/stream?groupId=${scenarioA}`, {}, viewer.token, 404],
      [`/api/v1/operations/${scenarioA}/stream`, {}, viewer.token, 404],
      ['/api/v1/operations/nope/stream', {}, viewer.token, 400],
      [`/api/v1/operations/${scenarioA}/stream`, { 'last-event-id': 'x' }, viewer.token, 400],
    ];
    for (const [path, headers, token, status] of cases) {
      const s = await open(path, headers, token);
      expect([path, s.status]).toEqual([path, status]);
      expect(JSON.parse(s.body)).toHaveProperty('message');
    }
  });
});
