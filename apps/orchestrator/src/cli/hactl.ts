#!/usr/bin/env node
/**
 * `hactl`: the operators' command line. A thin client of the REST API (every action goes through
 * the same endpoints, roles and audit log), for runbooks and 3 a.m. terminals.
 *
 *   HA_URL=http://orchestrator:8080 HA_TOKEN=hat_… npm run cli -- <command> [args] [--json]
 *
 * Scenarios and nodes may be named by name or id. Exit codes: 0 ok, 1 the API refused or the
 * operation failed, 2 bad usage, 3 the orchestrator is unreachable.
 */
import { parseArgs } from 'node:util';

const USAGE = `usage: hactl <command> [args] [--json]

  scenarios                          list scenarios with state, epoch and active node
  status <scenario>                  state, nodes and verdicts, running operation
  nodes                              list nodes
  health <node>                      verdict and evidence of a node
  failover <scenario> --reason R [--target NODE] [--force [--confirm-fenced]] [--wait|--dry-run]
                                     --confirm-fenced: you powered off/isolated the old production
  switchover <scenario> --reason R [--target NODE] [--wait|--dry-run]
  failback <scenario> --reason R [--wait|--dry-run]
  start <scenario> --reason R [--wait|--dry-run]
  stop <scenario> --reason R [--wait|--dry-run]
                                     --dry-run: print the plan (steps, target and why, fencing,
                                     what would refuse it); nothing changes; exit 1 if it would be refused
                                     --wait: follow the steps live (stderr), then print the timeline
  decisions <scenario> [--outcome O] why the detector acted, or did not (newest first)
  note (decision|operation) <id> --text T   add a note for the post-incident review
  operations [<scenario>]            recent operations
  operation <id>                     one operation with its step timeline
  events [<scenario>]                recent events
  events [<scenario>] --follow [--kinds K1,K2]
                                     live events until Ctrl-C (resumes after a dropped connection)
  storm-brake [ack --reason R]       show, or release (admin)
  maintenance [list] [--all]         windows active or scheduled (--all: ended too)
  maintenance start (--node N | --scenario S | --group G) --reason R (--for 2h | --until ISO) [--at ISO]
                                     suppress automatic failover of that scope; the node is no promotion target
  maintenance extend <id> --reason R (--for 30m | --until ISO)   move the end (--for counts from now)
  maintenance end <id> --reason R    end now (a scheduled window is cancelled)

environment: HA_URL (default http://127.0.0.1:8080), HA_TOKEN (required)`;

class CliError extends Error {
  constructor(
    message: string,
    readonly exitCode: number,
  ) {
    super(message);
  }
}

interface Ctx {
  url: string;
  token: string;
  json: boolean;
}

async function call<T = any>(ctx: Ctx, method: string, path: string, body?: unknown): Promise<T> {
  let res: Response;
  try {
    res = await fetch(`${ctx.url}${path}`, {
      method,
      headers: {
        authorization: `Bearer ${ctx.token}`,
        ...(body ? { 'content-type': 'application/json' } : {}),
      },
      body: body ? JSON.stringify(body) : undefined,
      signal: AbortSignal.timeout(15000),
    });
  } catch (err) {
    throw new CliError(`orchestrator unreachable at ${ctx.url}: ${(err as Error).message}`, 3);
  }
  const text = await res.text();
  if (res.status >= 400) throw apiError(res.status, text);
  return (text ? JSON.parse(text) : {}) as T;
}

/** The API's refusal as the CLI says it (exit 1). */
function apiError(status: number, text: string): CliError {
  let parsed: any = {};
  try {
    parsed = text ? JSON.parse(text) : {};
  } catch {
    // not JSON: say what came back
  }
  const extra = parsed.details?.operationId ? ` (operation ${parsed.details.operationId})` : '';
  return new CliError(`${status} ${parsed.error ?? ''}: ${parsed.message ?? text}${extra}`, 1);
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

async function resolve(
  ctx: Ctx,
  kind: 'scenarios' | 'nodes' | 'groups',
  ref: string | undefined,
): Promise<any> {
  if (!ref) throw new CliError(`missing ${kind.slice(0, -1)} name or id\n\n${USAGE}`, 2);
  if (UUID.test(ref)) return call(ctx, 'GET', `/api/v1/${kind}/${ref}`);
  for (let offset = 0; ; offset += 500) {
    const page = await call(ctx, 'GET', `/api/v1/${kind}?limit=500&offset=${offset}`);
    const hit = page.items.find((x: { name: string }) => x.name === ref);
    if (hit) return hit;
    if (offset + 500 >= page.total) throw new CliError(`no ${kind.slice(0, -1)} named ${ref}`, 1);
  }
}

function table(rows: Record<string, unknown>[], columns: string[]): string {
  const widths = columns.map((c) => Math.max(c.length, ...rows.map((r) => String(r[c] ?? '').length)));
  const line = (cells: string[]) =>
    cells
      .map((c, i) => c.padEnd(widths[i]))
      .join('  ')
      .trimEnd();
  return [line(columns), ...rows.map((r) => line(columns.map((c) => String(r[c] ?? ''))))].join('\n');
}

function print(ctx: Ctx, data: unknown, human: () => string): void {
  console.log(ctx.json ? JSON.stringify(data, null, 2) : human());
}

function timeline(op: any): string {
  const head = `operation ${op.id}  ${op.type}  ${op.state}  epoch ${op.epoch ?? '-'}  by ${op.requestedBy}  "${op.reason}"`;
  const steps = (op.steps ?? []).map((s: any) => ({
    step: s.name,
    state: s.state,
    attempts: s.attempts,
    ms: s.durationMs ?? '',
    detail: s.error ?? (s.output ? JSON.stringify(s.output).slice(0, 80) : ''),
  }));
  return `${head}\n${table(steps, ['step', 'state', 'attempts', 'ms', 'detail'])}${op.error ? `\nerror: ${op.error}` : ''}`;
}

interface SseMessage {
  id?: string;
  event: string;
  data: string;
}

/**
 * Reads a text/event-stream response as messages. Ends when the server closes the stream; a
 * dropped connection throws. Comments (keep-alives) and `retry:` lines are skipped.
 */
async function* sseMessages(res: Response): AsyncGenerator<SseMessage> {
  const reader = res.body!.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = '';
  let msg: SseMessage = { event: 'message', data: '' };
  let hasData = false;
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return;
    buffer += value;
    let nl: number;
    while ((nl = buffer.indexOf('\n')) >= 0) {
      const line = buffer.slice(0, nl).replace(/\r$/, '');
      buffer = buffer.slice(nl + 1);
      if (line === '') {
        if (hasData) yield msg;
        msg = { event: 'message', data: '' };
        hasData = false;
        continue;
      }
      if (line.startsWith(':')) continue;
      const colon = line.indexOf(':');
      const field = colon < 0 ? line : line.slice(0, colon);
      const val = colon < 0 ? '' : line.slice(colon + 1).replace(/^ /, '');
      if (field === 'data') {
        msg.data = hasData ? `${msg.data}\n${val}` : val;
        hasData = true;
      } else if (field === 'event') msg.event = val;
      else if (field === 'id') msg.id = val;
    }
  }
}

/** Opens a live stream; null for an operation stream this orchestrator does not have (404: polled instead). */
async function openStream(ctx: Ctx, path: string, lastId: string | undefined, signal?: AbortSignal) {
  const res = await fetch(`${ctx.url}${path}`, {
    headers: {
      authorization: `Bearer ${ctx.token}`,
      accept: 'text/event-stream',
      ...(lastId !== undefined ? { 'last-event-id': lastId } : {}),
    },
    signal,
  });
  // An orchestrator older than the live streams has no such route.
  if (res.status === 404 && path.includes('/operations/')) return null;
  if (res.status >= 400) throw apiError(res.status, await res.text());
  return res;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function stepLine(step: any): string {
  const extra = [
    step.attempts > 1 ? `attempt ${step.attempts}` : '',
    step.durationMs !== undefined && step.durationMs !== null ? `${step.durationMs} ms` : '',
    step.error ?? '',
  ].filter(Boolean);
  return `hactl: ${String(step.position ?? '').padStart(2)} ${step.name} ${step.state}${extra.length ? ` (${extra.join(', ')})` : ''}`;
}

/**
 * Waits for an operation to end, printing each step as it changes (stderr). Follows the
 * operation's live stream and resumes after a drop with Last-Event-ID; polls where the
 * orchestrator has no stream.
 */
async function waitOperation(ctx: Ctx, id: string): Promise<any> {
  let lastId: string | undefined;
  let failures = 0;
  for (;;) {
    let res: Response | null;
    try {
      res = await openStream(ctx, `/api/v1/operations/${id}/stream`, lastId);
    } catch (err) {
      if (err instanceof CliError) throw err;
      if (++failures > 15)
        throw new CliError(`orchestrator unreachable at ${ctx.url}: ${(err as Error).message}`, 3);
      await sleep(1000);
      continue;
    }
    if (!res) return pollOperation(ctx, id);
    try {
      for await (const m of sseMessages(res)) {
        failures = 0;
        if (m.id !== undefined) lastId = m.id;
        if (m.event === 'step') console.error(stepLine(JSON.parse(m.data)));
        if (m.event === 'operation') return call(ctx, 'GET', `/api/v1/operations/${id}`);
      }
    } catch {
      // dropped: reconnect below and resume after the last step seen
    }
    if (++failures > 15) return pollOperation(ctx, id);
    await sleep(500);
  }
}

async function pollOperation(ctx: Ctx, id: string): Promise<any> {
  for (;;) {
    const op = await call(ctx, 'GET', `/api/v1/operations/${id}`);
    if (op.state === 'succeeded' || op.state === 'failed') return op;
    await sleep(200);
  }
}

/** `events --follow`: prints events as they happen until Ctrl-C; resumes after drops without a gap. */
async function followEvents(ctx: Ctx, query: string): Promise<number> {
  const stop = new AbortController();
  const onSigint = (): void => stop.abort();
  process.once('SIGINT', onSigint);
  process.once('SIGTERM', onSigint);
  let lastId: string | undefined;
  let failures = 0;
  try {
    while (!stop.signal.aborted) {
      let res: Response | null;
      try {
        res = await openStream(ctx, `/api/v1/events/stream${query}`, lastId, stop.signal);
      } catch (err) {
        if (stop.signal.aborted) break;
        if (err instanceof CliError) throw err;
        if (++failures > 30)
          throw new CliError(`orchestrator unreachable at ${ctx.url}: ${(err as Error).message}`, 3);
        await sleep(1000);
        continue;
      }
      if (!res) throw new Error('unreachable: only operation streams answer null');
      try {
        for await (const m of sseMessages(res)) {
          failures = 0;
          if (m.event === 'reset') {
            console.error(`hactl: ${JSON.parse(m.data).reason}`);
            continue;
          }
          if (m.id !== undefined) lastId = m.id;
          const e = JSON.parse(m.data);
          console.log(
            ctx.json ? JSON.stringify(e) : `${e.at}  ${String(e.severity).padEnd(8)} ${e.kind}  ${e.message}`,
          );
        }
      } catch {
        // dropped (or Ctrl-C): reconnect after the last event printed
      }
      if (stop.signal.aborted) break;
      if (++failures > 30) throw new CliError(`the event stream of ${ctx.url} keeps dropping`, 3);
      console.error('hactl: stream interrupted, reconnecting');
      await sleep(1000);
    }
  } finally {
    process.off('SIGINT', onSigint);
    process.off('SIGTERM', onSigint);
  }
  return 0;
}

/** "90s", "30m", "2h", "1d" → seconds. */
function seconds(text: string): number {
  const m = /^(\d+)\s*([smhd])$/.exec(text.trim());
  if (!m) throw new CliError(`--for takes a duration like 90s, 30m, 2h or 1d, not ${text}`, 2);
  return Number(m[1]) * { s: 1, m: 60, h: 3600, d: 86400 }[m[2] as 's' | 'm' | 'h' | 'd'];
}

/** --for or --until (exactly one) as the API's durationSeconds / endsAt. */
function windowEnd(values: { for?: string; until?: string }): Record<string, unknown> {
  if (!!values.for === !!values.until)
    throw new CliError('give the window an end: --for DURATION or --until ISO', 2);
  return values.for ? { durationSeconds: seconds(values.for) } : { endsAt: values.until };
}

async function maintenance(
  ctx: Ctx,
  action: string | undefined,
  id: string | undefined,
  values: any,
): Promise<number> {
  const windows = (items: any[]) =>
    table(
      items.map((w) => ({ ...w, scope: `${w.scopeType} ${w.scopeName ?? w.scopeId}` })),
      ['id', 'state', 'scope', 'startsAt', 'endsAt', 'createdBy', 'reason'],
    );
  const shown = (r: any) =>
    [
      `window ${r.window.id}: ${r.window.scopeType} ${r.window.scopeName} ${r.window.state} ${r.window.startsAt} → ${r.window.endsAt}`,
      ...r.impact.map((i: any) => `  ${i.scenarioName}: ${i.effects.join(', ')}`),
      ...r.warnings.map((w: string) => `WARNING: ${w}`),
    ].join('\n');
  switch (action ?? 'list') {
    case 'list': {
      const states = values.all ? [''] : ['active', 'scheduled'];
      const items: any[] = [];
      for (const st of states) {
        items.push(
          ...(await call(ctx, 'GET', `/api/v1/maintenance?limit=500${st ? `&state=${st}` : ''}`)).items,
        );
      }
      print(ctx, items, () => (items.length ? windows(items) : 'no maintenance window'));
      return 0;
    }
    case 'start': {
      if (!values.reason)
        throw new CliError('maintenance start needs --reason (it goes to the audit log)', 2);
      const scopes = (['node', 'scenario', 'group'] as const).filter((k) => values[k]);
      if (scopes.length !== 1)
        throw new CliError('maintenance start takes one of --node, --scenario, --group', 2);
      const scopeType = scopes[0];
      const scope = await resolve(ctx, `${scopeType}s`, values[scopeType]);
      const r = await call(ctx, 'POST', '/api/v1/maintenance', {
        scopeType,
        scopeId: scope.id,
        reason: values.reason,
        ...(values.at && { startsAt: values.at }),
        ...windowEnd(values),
      });
      print(ctx, r, () => shown(r));
      return 0;
    }
    case 'extend': {
      if (!id) throw new CliError(`missing window id\n\n${USAGE}`, 2);
      if (!values.reason) throw new CliError('maintenance extend needs --reason', 2);
      const r = await call(ctx, 'PATCH', `/api/v1/maintenance/${id}`, {
        reason: values.reason,
        ...windowEnd(values),
      });
      print(ctx, r, () => shown(r));
      return 0;
    }
    case 'end': {
      if (!id) throw new CliError(`missing window id\n\n${USAGE}`, 2);
      if (!values.reason) throw new CliError('maintenance end needs --reason', 2);
      const w = await call(ctx, 'POST', `/api/v1/maintenance/${id}/end`, { reason: values.reason });
      print(
        ctx,
        w,
        () =>
          `window ${w.id} ended at ${w.endsAt}: automatic failover of ${w.scopeType} ${w.scopeName} resumes`,
      );
      return 0;
    }
    default:
      throw new CliError(`unknown maintenance action ${action}\n\n${USAGE}`, 2);
  }
}

/** A dry run's plan as an operator reads it. */
function planText(p: any): string {
  const lines = [
    `DRY RUN ${p.type} of ${p.scenarioName}: ${p.wouldRun ? 'would run' : 'WOULD BE REFUSED'} (nothing was changed)`,
    `  state ${p.state.current}${p.state.during ? ` → ${p.state.during} while it runs` : ''}; epoch ${p.epoch.current}${p.epoch.next !== p.epoch.current ? ` → ${p.epoch.next}` : ''}`,
  ];
  if (p.target) lines.push(`  target: ${p.target.name ?? 'none'} (${p.target.why})`);
  for (const f of p.fencing ?? [])
    lines.push(
      `  fence ${f.node}: ${f.method}${f.expectedWaitMs !== undefined ? ` (about ${Math.ceil(f.expectedWaitMs / 1000)} s)` : ''}: ${f.detail}`,
    );
  lines.push(`  steps: ${p.steps.join(' → ')}`);
  for (const r of p.refusals ?? []) lines.push(`  REFUSED (${r.rule}): ${r.message}`);
  for (const w of p.warnings ?? []) lines.push(`  note: ${w}`);
  return lines.join('\n');
}

async function main(argv: string[]): Promise<number> {
  let parsed;
  try {
    parsed = parseArgs({
      args: argv,
      allowPositionals: true,
      options: {
        reason: { type: 'string' },
        target: { type: 'string' },
        force: { type: 'boolean' },
        'confirm-fenced': { type: 'boolean' },
        'dry-run': { type: 'boolean' },
        outcome: { type: 'string' },
        text: { type: 'string' },
        wait: { type: 'boolean' },
        follow: { type: 'boolean', short: 'f' },
        kinds: { type: 'string' },
        json: { type: 'boolean' },
        node: { type: 'string' },
        scenario: { type: 'string' },
        group: { type: 'string' },
        for: { type: 'string' },
        until: { type: 'string' },
        at: { type: 'string' },
        all: { type: 'boolean' },
        help: { type: 'boolean', short: 'h' },
      },
    });
  } catch (err) {
    throw new CliError(`${(err as Error).message}\n\n${USAGE}`, 2);
  }
  const { values, positionals } = parsed;
  const [command, arg, arg2] = positionals;
  if (values.help || !command) {
    console.log(USAGE);
    return values.help ? 0 : 2;
  }
  const token = process.env.HA_TOKEN;
  if (!token) throw new CliError('HA_TOKEN is not set (a bearer token of the orchestrator API)', 2);
  const ctx: Ctx = {
    url: (process.env.HA_URL ?? 'http://127.0.0.1:8080').replace(/\/+$/, ''),
    token,
    json: !!values.json,
  };

  switch (command) {
    case 'scenarios': {
      const page = await call(ctx, 'GET', '/api/v1/scenarios?limit=500');
      const nodes = await call(ctx, 'GET', '/api/v1/nodes?limit=500');
      const name = (id: string) => nodes.items.find((n: any) => n.id === id)?.name ?? id;
      print(ctx, page, () =>
        table(
          page.items.map((s: any) => ({ ...s, active: name(s.activeNodeId), mode: s.failoverMode })),
          ['name', 'state', 'epoch', 'active', 'mode'],
        ),
      );
      return 0;
    }
    case 'status': {
      const s = await resolve(ctx, 'scenarios', arg);
      const st = await call(ctx, 'GET', `/api/v1/scenarios/${s.id}/status`);
      print(ctx, st, () =>
        [
          `${st.scenario.name}: ${st.scenario.state}, epoch ${st.scenario.epoch}, mode ${st.scenario.failoverMode}` +
            (st.activeOperationId ? `, operation ${st.activeOperationId} running` : '') +
            (st.stormBrake?.engaged ? ', STORM BRAKE ENGAGED' : ''),
          table(st.nodes, ['name', 'address', 'role', 'verdict', 'reason']),
        ].join('\n'),
      );
      return 0;
    }
    case 'nodes': {
      const page = await call(ctx, 'GET', '/api/v1/nodes?limit=500');
      print(ctx, page, () => table(page.items, ['name', 'address', 'agentUrl']));
      return 0;
    }
    case 'health': {
      const n = await resolve(ctx, 'nodes', arg);
      const h = await call(ctx, 'GET', `/api/v1/nodes/${n.id}/health`);
      print(ctx, h, () =>
        [
          `${n.name}: ${h.verdict}${h.evidence?.reason ? ` (${h.evidence.reason})` : ''}`,
          table(h.evidence?.checks ?? [], ['name', 'kind', 'state', 'lastStatus', 'lastOutput']),
        ].join('\n'),
      );
      return 0;
    }
    case 'failover':
    case 'switchover':
    case 'failback':
    case 'start':
    case 'stop': {
      if (!values.reason) throw new CliError(`${command} needs --reason (it goes to the audit log)`, 2);
      const s = await resolve(ctx, 'scenarios', arg);
      const body: Record<string, unknown> = { reason: values.reason };
      if (values.target) {
        if (command !== 'failover' && command !== 'switchover')
          throw new CliError('--target is for failover/switchover', 2);
        body.targetNodeId = (await resolve(ctx, 'nodes', values.target)).id;
      }
      if (values.force) body.force = true;
      if (values['confirm-fenced']) {
        if (command !== 'failover') throw new CliError('--confirm-fenced is for failover', 2);
        body.confirmFenced = true;
      }
      if (values['dry-run']) {
        if (values.wait) throw new CliError('--dry-run and --wait do not go together', 2);
        const plan = await call(ctx, 'POST', `/api/v1/scenarios/${s.id}/${command}`, {
          ...body,
          dryRun: true,
        });
        print(ctx, plan, () => planText(plan));
        return plan.wouldRun ? 0 : 1;
      }
      let op = await call(ctx, 'POST', `/api/v1/scenarios/${s.id}/${command}`, body);
      for (const w of op.warnings ?? []) console.error(`hactl: note: ${w}`);
      if (values.wait) op = await waitOperation(ctx, op.id);
      print(ctx, op, () =>
        values.wait
          ? timeline(op)
          : `operation ${op.id} accepted (${op.type}); follow: hactl operation ${op.id}`,
      );
      return op.state === 'failed' ? 1 : 0;
    }
    case 'decisions': {
      const s = await resolve(ctx, 'scenarios', arg);
      const q = values.outcome ? `&outcome=${encodeURIComponent(values.outcome)}` : '';
      const page = await call(ctx, 'GET', `/api/v1/scenarios/${s.id}/decisions?limit=20${q}`);
      print(ctx, page, () => table(page.items, ['createdAt', 'outcome', 'rule', 'operationId', 'message']));
      return 0;
    }
    case 'note': {
      if (arg !== 'decision' && arg !== 'operation')
        throw new CliError(`note needs decision or operation, then its id\n\n${USAGE}`, 2);
      if (!arg2 || !values.text) throw new CliError('note needs an id and --text', 2);
      const path = arg === 'decision' ? 'decisions' : 'operations';
      const n = await call(ctx, 'POST', `/api/v1/${path}/${arg2}/notes`, { text: values.text });
      print(ctx, n, () => `note added to ${arg} ${arg2}`);
      return 0;
    }
    case 'operations': {
      const q = arg ? `&scenarioId=${(await resolve(ctx, 'scenarios', arg)).id}` : '';
      const page = await call(ctx, 'GET', `/api/v1/operations?limit=20${q}`);
      print(ctx, page, () =>
        table(page.items, ['id', 'type', 'state', 'trigger', 'epoch', 'createdAt', 'requestedBy']),
      );
      return 0;
    }
    case 'operation': {
      if (!arg) throw new CliError(`missing operation id\n\n${USAGE}`, 2);
      const op = await call(ctx, 'GET', `/api/v1/operations/${arg}`);
      print(ctx, op, () => timeline(op));
      return 0;
    }
    case 'events': {
      if (values.follow) {
        const params = new URLSearchParams();
        if (arg) params.set('scenarioId', (await resolve(ctx, 'scenarios', arg)).id);
        if (values.kinds) params.set('kinds', values.kinds);
        const qs = params.toString();
        return followEvents(ctx, qs ? `?${qs}` : '');
      }
      if (values.kinds) throw new CliError('--kinds goes with --follow', 2);
      const q = arg ? `&scenarioId=${(await resolve(ctx, 'scenarios', arg)).id}` : '';
      const page = await call(ctx, 'GET', `/api/v1/events?limit=30${q}`);
      print(ctx, page, () => table(page.items, ['at', 'severity', 'kind', 'message']));
      return 0;
    }
    case 'storm-brake': {
      if (arg === 'ack') {
        if (!values.reason) throw new CliError('storm-brake ack needs --reason', 2);
        const st = await call(ctx, 'POST', '/api/v1/storm-brake/acknowledge', { reason: values.reason });
        print(ctx, st, () => 'storm brake released: automatic failovers may start again');
        return 0;
      }
      if (arg) throw new CliError(`unknown storm-brake action ${arg}`, 2);
      const st = await call(ctx, 'GET', '/api/v1/storm-brake');
      print(
        ctx,
        st,
        () =>
          `storm brake ${st.engaged ? `ENGAGED since ${st.engagedAt}` : 'released'}; ` +
          `${st.recentIncidents}/${st.maxFailovers} failure incidents (${st.recentAutomaticFailovers} automatic failovers) in the last ${st.windowMs / 1000} s`,
      );
      return 0;
    }
    case 'maintenance':
      return maintenance(ctx, arg, arg2, values);
    default:
      throw new CliError(`unknown command ${command}\n\n${USAGE}`, 2);
  }
}

main(process.argv.slice(2))
  .then((code) => process.exit(code))
  .catch((err: Error) => {
    console.error(`hactl: ${err.message}`);
    process.exit(err instanceof CliError ? err.exitCode : 1);
  });
