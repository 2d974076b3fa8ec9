#!/usr/bin/env node
/**
 * `hactl`: the operators' command line. A thin client of the REST API (every action goes through
 * the same endpoints, roles and audit log), for runbooks and 3 a.m. terminals. Tables for people,
 * `--json` for scripts; `hactl --help` lists the commands, configuration and exit codes
 * (docs/cli.md says more).
 *
 * Scenarios, nodes, groups and webhooks may be named by name or id.
 */
import { once } from 'node:events';
import { createWriteStream, readFileSync, renameSync, rmSync } from 'node:fs';
import { Argument, Command, CommanderError, InvalidArgumentError, Option } from 'commander';
import {
  buildCtx,
  call,
  CliError,
  Ctx,
  EXIT,
  EXIT_CODES_HELP,
  followEvents,
  GlobalOptions,
  request,
  resolve,
  unreachable,
  waitOperation,
} from './hactl-client';
import { bashCompletion } from './hactl-completion';
import Table from 'cli-table3';

/** Borderless, left-aligned columns two spaces apart (greppable, like kubectl's), by cli-table3. */
const PLAIN = Object.fromEntries(
  [
    'top',
    'top-mid',
    'top-left',
    'top-right',
    'bottom',
    'bottom-mid',
    'bottom-left',
    'bottom-right',
    'left',
    'left-mid',
    'mid',
    'mid-mid',
    'right',
    'right-mid',
    'middle',
  ].map((k) => [k, '']),
);

function table(rows: Record<string, unknown>[], columns: string[]): string {
  const cell = (v: unknown) => (v === null || v === undefined ? '' : String(v));
  const t = new Table({
    head: columns,
    chars: PLAIN,
    style: { head: [], border: [], 'padding-left': 0, 'padding-right': 2, compact: true },
    wordWrap: false,
  });
  for (const r of rows) t.push(columns.map((c) => cell(r[c])));
  return t
    .toString()
    .split('\n')
    .map((l) => l.trimEnd())
    .join('\n');
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

/** "90s", "30m", "2h", "1d" → seconds. */
function seconds(text: string): number {
  const m = /^(\d+)\s*([smhd])$/.exec(text.trim());
  if (!m) throw new CliError(`--for takes a duration like 90s, 30m, 2h or 1d, not ${text}`, EXIT.usage);
  return Number(m[1]) * { s: 1, m: 60, h: 3600, d: 86400 }[m[2] as 's' | 'm' | 'h' | 'd'];
}

/** --for or --until (exactly one) as the API's durationSeconds / endsAt. */
function windowEnd(values: { for?: string; until?: string }): Record<string, unknown> {
  if (!!values.for === !!values.until)
    throw new CliError('give the window an end: --for DURATION or --until ISO', EXIT.usage);
  return values.for ? { durationSeconds: seconds(values.for) } : { endsAt: values.until };
}

function integer(min: number, max: number) {
  return (text: string): number => {
    const n = Number(text);
    if (!Number.isInteger(n) || n < min || n > max)
      throw new InvalidArgumentError(`an integer from ${min} to ${max}`);
    return n;
  };
}

function query(params: Record<string, string | number | undefined>): string {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (v !== undefined && v !== '') q.set(k, String(v));
  const s = q.toString();
  return s ? `?${s}` : '';
}

/**
 * Writes a response body to stdout, or to `file` (through `<file>.part`, renamed when complete, so
 * an interrupted export never looks like a whole one).
 */
async function download(ctx: Ctx, path: string, file: string | undefined): Promise<number> {
  const res = await request(ctx, 'GET', path);
  const body = res.body;
  if (!body) return EXIT.ok;
  if (!file) {
    if (ctx.json)
      throw new CliError('this report is CSV: --json needs -o FILE (it then prints a summary)', 2);
    try {
      for await (const chunk of body) {
        if (!process.stdout.write(chunk)) await once(process.stdout, 'drain');
      }
    } catch (err) {
      throw unreachable(ctx, err);
    }
    return EXIT.ok;
  }
  const part = `${file}.part`;
  const out = createWriteStream(part);
  let bytes = 0;
  try {
    try {
      for await (const chunk of body) {
        bytes += (chunk as Uint8Array).byteLength;
        if (!out.write(chunk)) await once(out, 'drain');
      }
    } catch (err) {
      throw unreachable(ctx, err);
    }
    out.end();
    await once(out, 'finish');
    renameSync(part, file);
  } catch (err) {
    out.destroy();
    rmSync(part, { force: true });
    throw err;
  }
  print(ctx, { file, bytes }, () => `wrote ${bytes} bytes to ${file}`);
  return EXIT.ok;
}

/** What `hactl` does, as a commander command tree; actions answer the exit code. */
export function buildProgram(): { program: Command; exitCode: () => number } {
  let code: number = EXIT.ok;
  const program = new Command('hactl');
  const ctx = (): Ctx => buildCtx(program.opts<GlobalOptions>());
  const act =
    <A extends unknown[]>(fn: (...args: A) => Promise<number>) =>
    async (...args: A): Promise<void> => {
      code = await fn(...args);
    };

  program
    .description('Operate the failover orchestrator through its REST API')
    .option('--json', 'print the API answer as JSON (for scripts)')
    .option('--url <url>', 'orchestrator URL (default: $HA_URL, the config file, http://127.0.0.1:8080)')
    .option('--config <file>', 'config file (default: $HACTL_CONFIG, ~/.config/hactl/config.json)')
    .showHelpAfterError('(hactl --help lists the commands; hactl <command> --help its options)')
    .exitOverride()
    .addHelpText(
      'after',
      `
The global options (--json, --url, --config) go before or after the command.

Configuration: the URL from --url, else HA_URL, else the config file, else http://127.0.0.1:8080;
the token from HA_TOKEN, else the config file. The config file ($HACTL_CONFIG, or
~/.config/hactl/config.json) is JSON {"url": "...", "token": "hat_..."}; when it holds a token
it must not be readable by group or others (chmod 600), or hactl refuses it.

${EXIT_CODES_HELP}`,
    );

  // ---- scenarios and nodes
  program
    .command('scenarios')
    .description('list scenarios with state, epoch and active node')
    .action(
      act(async () => {
        const c = ctx();
        const page = await call(c, 'GET', '/api/v1/scenarios?limit=500');
        const nodes = await call(c, 'GET', '/api/v1/nodes?limit=500');
        const name = (id: string) => nodes.items.find((n: any) => n.id === id)?.name ?? id;
        print(c, page, () =>
          table(
            page.items.map((s: any) => ({ ...s, active: name(s.activeNodeId), mode: s.failoverMode })),
            ['name', 'state', 'epoch', 'active', 'mode'],
          ),
        );
        return EXIT.ok;
      }),
    );

  program
    .command('status')
    .description('state, nodes and verdicts, running operation of a scenario')
    .argument('<scenario>')
    .action(
      act(async (ref: string) => {
        const c = ctx();
        const s = await resolve(c, 'scenarios', ref);
        const st = await call(c, 'GET', `/api/v1/scenarios/${s.id}/status`);
        print(c, st, () =>
          [
            `${st.scenario.name}: ${st.scenario.state}, epoch ${st.scenario.epoch}, mode ${st.scenario.failoverMode}` +
              (st.activeOperationId ? `, operation ${st.activeOperationId} running` : '') +
              (st.stormBrake?.engaged ? ', STORM BRAKE ENGAGED' : ''),
            table(st.nodes, ['name', 'address', 'role', 'verdict', 'reason']),
          ].join('\n'),
        );
        return EXIT.ok;
      }),
    );

  program
    .command('nodes')
    .description('list nodes')
    .action(
      act(async () => {
        const c = ctx();
        const page = await call(c, 'GET', '/api/v1/nodes?limit=500');
        print(c, page, () => table(page.items, ['name', 'address', 'agentUrl']));
        return EXIT.ok;
      }),
    );

  program
    .command('health')
    .description('verdict and evidence of a node')
    .argument('<node>')
    .action(
      act(async (ref: string) => {
        const c = ctx();
        const n = await resolve(c, 'nodes', ref);
        const h = await call(c, 'GET', `/api/v1/nodes/${n.id}/health`);
        print(c, h, () =>
          [
            `${n.name}: ${h.verdict}${h.evidence?.reason ? ` (${h.evidence.reason})` : ''}`,
            table(h.evidence?.checks ?? [], ['name', 'kind', 'state', 'lastStatus', 'lastOutput']),
          ].join('\n'),
        );
        return EXIT.ok;
      }),
    );

  // ---- scenario operations
  const waitOrDryRun = (cmd: Command) =>
    cmd
      .addOption(new Option('--wait', 'follow the steps live (stderr), then print the timeline'))
      .addOption(
        new Option('--dry-run', 'print the plan; nothing changes; exit 1 if it would be refused').conflicts(
          'wait',
        ),
      );
  for (const type of ['failover', 'switchover', 'failback', 'start', 'stop'] as const) {
    const cmd = program
      .command(type)
      .description(`${type} a scenario`)
      .argument('<scenario>')
      .requiredOption('--reason <text>', 'why (goes to the audit log)');
    if (type === 'failover' || type === 'switchover')
      cmd.option('--target <node>', 'the replica to promote (default: the policy picks)');
    if (type === 'failover') {
      cmd.option('--force', 'fence an unreachable production through its hook or by waiting out its lease');
      cmd.option('--confirm-fenced', 'you powered off or isolated the old production yourself');
    }
    waitOrDryRun(cmd).action(
      act(async (ref: string, o: any) => {
        const c = ctx();
        const s = await resolve(c, 'scenarios', ref);
        const body: Record<string, unknown> = { reason: o.reason };
        if (o.target) body.targetNodeId = (await resolve(c, 'nodes', o.target)).id;
        if (o.force) body.force = true;
        if (o.confirmFenced) body.confirmFenced = true;
        return submitOperation(c, `/api/v1/scenarios/${s.id}/${type}`, body, o);
      }),
    );
  }

  program
    .command('decisions')
    .description('why the detector acted, or did not (newest first)')
    .argument('<scenario>')
    .option('--outcome <outcome>', 'only decisions with this outcome')
    .action(
      act(async (ref: string, o: { outcome?: string }) => {
        const c = ctx();
        const s = await resolve(c, 'scenarios', ref);
        const page = await call(
          c,
          'GET',
          `/api/v1/scenarios/${s.id}/decisions${query({ limit: 20, outcome: o.outcome })}`,
        );
        print(c, page, () => table(page.items, ['createdAt', 'outcome', 'rule', 'operationId', 'message']));
        return EXIT.ok;
      }),
    );

  program
    .command('note')
    .description('add a note to a decision or an operation, for the post-incident review')
    .addArgument(new Argument('<kind>').choices(['decision', 'operation']))
    .argument('<id>')
    .requiredOption('--text <text>', 'the note')
    .action(
      act(async (kind: string, id: string, o: { text: string }) => {
        const c = ctx();
        const path = kind === 'decision' ? 'decisions' : 'operations';
        const n = await call(c, 'POST', `/api/v1/${path}/${id}/notes`, { text: o.text });
        print(c, n, () => `note added to ${kind} ${id}`);
        return EXIT.ok;
      }),
    );

  program
    .command('operations')
    .description('recent operations (of one scenario or group)')
    .argument('[scenario]')
    .option('--group <group>', 'only the operations of this group')
    .action(
      act(async (ref: string | undefined, o: { group?: string }) => {
        const c = ctx();
        const scenarioId = ref ? (await resolve(c, 'scenarios', ref)).id : undefined;
        const groupId = o.group ? (await resolve(c, 'groups', o.group)).id : undefined;
        const page = await call(c, 'GET', `/api/v1/operations${query({ limit: 20, scenarioId, groupId })}`);
        print(c, page, () =>
          table(page.items, ['id', 'type', 'state', 'trigger', 'epoch', 'createdAt', 'requestedBy']),
        );
        return EXIT.ok;
      }),
    );

  program
    .command('operation')
    .description('one operation with its step timeline')
    .argument('<id>')
    .action(
      act(async (id: string) => {
        const c = ctx();
        const op = await call(c, 'GET', `/api/v1/operations/${id}`);
        print(c, op, () => timeline(op));
        return EXIT.ok;
      }),
    );

  program
    .command('events')
    .description('recent events, or live ones with --follow (until Ctrl-C)')
    .argument('[scenario]')
    .option('-f, --follow', 'live events until Ctrl-C (resumes after a dropped connection)')
    .option('--kinds <k1,k2>', 'only these kinds (with --follow)')
    .action(
      act(async (ref: string | undefined, o: { follow?: boolean; kinds?: string }) => {
        if (o.kinds && !o.follow) throw new CliError('--kinds goes with --follow', EXIT.usage);
        const c = ctx();
        const scenarioId = ref ? (await resolve(c, 'scenarios', ref)).id : undefined;
        if (o.follow) return followEvents(c, query({ scenarioId, kinds: o.kinds }));
        const page = await call(c, 'GET', `/api/v1/events${query({ limit: 30, scenarioId })}`);
        print(c, page, () => table(page.items, ['at', 'severity', 'kind', 'message']));
        return EXIT.ok;
      }),
    );

  const storm = program.command('storm-brake').description('the storm brake across scenarios');
  storm
    .command('show', { isDefault: true })
    .description('engaged or released, and the recent failure incidents')
    .action(
      act(async () => {
        const c = ctx();
        const st = await call(c, 'GET', '/api/v1/storm-brake');
        print(
          c,
          st,
          () =>
            `storm brake ${st.engaged ? `ENGAGED since ${st.engagedAt}` : 'released'}; ` +
            `${st.recentIncidents}/${st.maxFailovers} failure incidents (${st.recentAutomaticFailovers} automatic failovers) in the last ${st.windowMs / 1000} s`,
        );
        return EXIT.ok;
      }),
    );
  storm
    .command('ack')
    .description('release the storm brake (admin)')
    .requiredOption('--reason <text>', 'why (goes to the audit log)')
    .action(
      act(async (o: { reason: string }) => {
        const c = ctx();
        const st = await call(c, 'POST', '/api/v1/storm-brake/acknowledge', { reason: o.reason });
        print(c, st, () => 'storm brake released: automatic failovers may start again');
        return EXIT.ok;
      }),
    );

  addMaintenance(program, ctx, act);
  addAlerts(program, ctx, act);
  addGroups(program, ctx, act);
  addAssuredRecovery(program, ctx, act);
  addWebhooks(program, ctx, act);
  addReports(program, ctx, act);

  const completion = program.command('completion').description('shell completion scripts');
  completion
    .command('bash')
    .description('print the bash completion script: source <(hactl completion bash)')
    .action(
      act(async () => {
        process.stdout.write(bashCompletion(program));
        return EXIT.ok;
      }),
    );

  return { program, exitCode: () => code };
}

type Act = <A extends unknown[]>(fn: (...args: A) => Promise<number>) => (...args: A) => Promise<void>;

/** Starts an operation (202) or prints its plan (dryRun); with --wait follows it to its end. */
async function submitOperation(
  c: Ctx,
  path: string,
  body: Record<string, unknown>,
  o: { wait?: boolean; dryRun?: boolean },
  after?: (op: any) => Promise<{ text: string; code: number; data?: unknown }>,
): Promise<number> {
  if (o.dryRun) {
    const plan = await call(c, 'POST', path, { ...body, dryRun: true });
    print(c, plan, () => planText(plan));
    return plan.wouldRun ? EXIT.ok : EXIT.refused;
  }
  let op = await call(c, 'POST', path, body);
  for (const w of op.warnings ?? []) console.error(`hactl: note: ${w}`);
  if (!o.wait) {
    print(c, op, () => `operation ${op.id} accepted (${op.type}); follow: hactl operation ${op.id}`);
    return EXIT.ok;
  }
  op = await waitOperation(c, op.id);
  const extra = after ? await after(op) : undefined;
  print(c, extra?.data ?? op, () => timeline(op) + (extra ? `\n${extra.text}` : ''));
  if (op.state === 'failed') return EXIT.failed;
  return extra?.code ?? EXIT.ok;
}

function addAlerts(program: Command, ctx: () => Ctx, act: Act): void {
  const rows = (items: any[]) =>
    table(
      items.map((a) => ({ ...a, about: a.nodeId ? a.mapping : `(not mapped) ${a.mapping}` })),
      ['id', 'state', 'name', 'severity', 'observer', 'about', 'lastReceivedAt'],
    );
  const a = program
    .command('alerts')
    .alias('alert')
    .description('alerts received from Alertmanager and other senders (one vote each against their node)');
  a.command('list', { isDefault: true })
    .description('alerts, firing ones by default')
    .option('--state <state>', 'firing, resolved, expired or all', 'firing')
    .option('--node <node>', 'about this node')
    .option('--scenario <scenario>', 'about this scenario')
    .option('--limit <n>', 'at most this many', '100')
    .action(
      act(async (o: { state: string; node?: string; scenario?: string; limit: string }) => {
        const c = ctx();
        if (!['firing', 'resolved', 'expired', 'all'].includes(o.state))
          throw new CliError('--state takes firing, resolved, expired or all', EXIT.usage);
        const page = await call(
          c,
          'GET',
          `/api/v1/alerts${query({
            limit: o.limit,
            state: o.state === 'all' ? undefined : o.state,
            nodeId: o.node ? (await resolve(c, 'nodes', o.node)).id : undefined,
            scenarioId: o.scenario ? (await resolve(c, 'scenarios', o.scenario)).id : undefined,
          })}`,
        );
        print(c, page.items, () =>
          page.items.length ? rows(page.items) : `no ${o.state === 'all' ? '' : `${o.state} `}alert`,
        );
        return EXIT.ok;
      }),
    );
  a.command('show')
    .description('one alert with its labels')
    .argument('<id>')
    .action(
      act(async (id: string) => {
        const c = ctx();
        const r = await call(c, 'GET', `/api/v1/alerts/${id}`);
        print(c, r, () => `${rows([r])}\nlabels: ${JSON.stringify(r.labels)}`);
        return EXIT.ok;
      }),
    );
}

function addMaintenance(program: Command, ctx: () => Ctx, act: Act): void {
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
  const m = program
    .command('maintenance')
    .description('maintenance windows: automatic failover of a node, scenario or group suppressed');
  m.command('list', { isDefault: true })
    .description('windows active or scheduled')
    .option('--all', 'ended windows too')
    .action(
      act(async (o: { all?: boolean }) => {
        const c = ctx();
        const items: any[] = [];
        for (const state of o.all ? [undefined] : ['active', 'scheduled'])
          items.push(...(await call(c, 'GET', `/api/v1/maintenance${query({ limit: 500, state })}`)).items);
        print(c, items, () => (items.length ? windows(items) : 'no maintenance window'));
        return EXIT.ok;
      }),
    );
  m.command('show')
    .description('one window')
    .argument('<id>')
    .action(
      act(async (id: string) => {
        const c = ctx();
        const w = await call(c, 'GET', `/api/v1/maintenance/${id}`);
        print(c, w, () => windows([w]));
        return EXIT.ok;
      }),
    );
  m.command('start')
    .alias('create')
    .description('open a window; the node is no promotion target while it lasts')
    .option('--node <node>')
    .option('--scenario <scenario>')
    .option('--group <group>')
    .requiredOption('--reason <text>', 'why (goes to the audit log)')
    .option('--for <duration>', 'length: 90s, 30m, 2h, 1d')
    .option('--until <iso>', 'end time (ISO 8601)')
    .option('--at <iso>', 'start later (ISO 8601; default now)')
    .action(
      act(async (o: any) => {
        const scopes = (['node', 'scenario', 'group'] as const).filter((k) => o[k]);
        if (scopes.length !== 1)
          throw new CliError('maintenance start takes one of --node, --scenario, --group', EXIT.usage);
        const end = windowEnd(o);
        const c = ctx();
        const scopeType = scopes[0];
        const scope = await resolve(c, `${scopeType}s`, o[scopeType]);
        const r = await call(c, 'POST', '/api/v1/maintenance', {
          scopeType,
          scopeId: scope.id,
          reason: o.reason,
          ...(o.at && { startsAt: o.at }),
          ...end,
        });
        print(c, r, () => shown(r));
        return EXIT.ok;
      }),
    );
  m.command('extend')
    .description('move the end of a window (--for counts from now)')
    .argument('<id>')
    .requiredOption('--reason <text>', 'why (goes to the audit log)')
    .option('--for <duration>', 'new length from now: 90s, 30m, 2h, 1d')
    .option('--until <iso>', 'new end time (ISO 8601)')
    .action(
      act(async (id: string, o: any) => {
        const end = windowEnd(o);
        const c = ctx();
        const r = await call(c, 'PATCH', `/api/v1/maintenance/${id}`, { reason: o.reason, ...end });
        print(c, r, () => shown(r));
        return EXIT.ok;
      }),
    );
  m.command('end')
    .description('end a window now (a scheduled one is cancelled)')
    .argument('<id>')
    .requiredOption('--reason <text>', 'why (goes to the audit log)')
    .action(
      act(async (id: string, o: { reason: string }) => {
        const c = ctx();
        const w = await call(c, 'POST', `/api/v1/maintenance/${id}/end`, { reason: o.reason });
        print(
          c,
          w,
          () =>
            `window ${w.id} ended at ${w.endsAt}: automatic failover of ${w.scopeType} ${w.scopeName} resumes`,
        );
        return EXIT.ok;
      }),
    );
}

function addGroups(program: Command, ctx: () => Ctx, act: Act): void {
  const g = program.command('group').alias('groups').description('groups of scenarios acted on together');
  const scenarioNames = async (c: Ctx) => {
    const page = await call(c, 'GET', '/api/v1/scenarios?limit=500');
    return new Map<string, any>(page.items.map((s: any) => [s.id, s]));
  };
  g.command('list', { isDefault: true })
    .description('list groups')
    .action(
      act(async () => {
        const c = ctx();
        const page = await call(c, 'GET', '/api/v1/groups?limit=500');
        print(c, page, () =>
          table(
            page.items.map((x: any) => ({
              ...x,
              members: x.scenarioIds.length,
              switchAll: x.switchAllIfAnyFails ? 'yes' : 'no',
            })),
            ['name', 'members', 'switchAll', 'description'],
          ),
        );
        return EXIT.ok;
      }),
    );
  g.command('show')
    .description('one group and the state of its member scenarios')
    .argument('<group>')
    .action(
      act(async (ref: string) => {
        const c = ctx();
        const group = await resolve(c, 'groups', ref);
        const scenarios = await scenarioNames(c);
        print(c, group, () =>
          [
            `group ${group.name} (${group.id}): ${group.scenarioIds.length} members, switch all if any fails: ${group.switchAllIfAnyFails ? 'yes' : 'no'}`,
            ...(group.description ? [group.description] : []),
            table(
              group.scenarioIds.map((id: string) => scenarios.get(id) ?? { id, name: id }),
              ['name', 'state', 'epoch', 'failoverMode'],
            ),
          ].join('\n'),
        );
        return EXIT.ok;
      }),
    );
  type GroupOpts = { reason: string; force?: boolean; wait?: boolean; dryRun?: boolean };
  /** POST a group operation (or its dry run) and print each member's plan or operation. */
  const groupOperation = async (
    c: Ctx,
    group: any,
    type: string,
    body: Record<string, unknown>,
    o: GroupOpts,
  ): Promise<number> => {
    const path = `/api/v1/groups/${group.id}/${type}`;
    const scenarios = await scenarioNames(c);
    const name = (id: string) => scenarios.get(id)?.name ?? id;
    if (o.dryRun) {
      const plan = await call(c, 'POST', path, { ...body, dryRun: true });
      print(c, plan, () =>
        [
          `DRY RUN ${type} of group ${group.name}: ${plan.wouldRun ? 'would run' : 'WOULD BE REFUSED'} (nothing was changed)`,
          ...plan.plans.map((p: any) =>
            p.steps
              ? planText(p)
              : [
                  `member ${name(p.scenarioId)}: WOULD BE REFUSED`,
                  ...p.refusals.map((r: any) => `  REFUSED (${r.statusCode}): ${r.message}`),
                ].join('\n'),
          ),
        ].join('\n'),
      );
      return plan.wouldRun ? EXIT.ok : EXIT.refused;
    }
    const r = await call(c, 'POST', path, body);
    let ops: any[] = r.operations;
    if (o.wait) ops = await Promise.all(ops.map((op) => waitOperation(c, op.id, `${name(op.scenarioId)}: `)));
    const result = { ...r, operations: ops };
    print(c, result, () =>
      [
        `group ${group.name}: ${ops.length} ${type} operation(s) ${o.wait ? 'ended' : 'accepted'}, ${r.refused.length} member(s) refused`,
        table(
          ops.map((op) => ({ scenario: name(op.scenarioId), ...op })),
          ['scenario', 'id', 'state', 'epoch', 'error'],
        ),
        ...r.refused.map(
          (x: any) => `REFUSED ${name(x.scenarioId)} (${x.statusCode} ${x.error}): ${x.message}`,
        ),
      ].join('\n'),
    );
    if (ops.some((op) => op.state === 'failed')) return EXIT.failed;
    return r.refused.length ? EXIT.refused : EXIT.ok;
  };
  const withRunOptions = (cmd: Command) =>
    cmd
      .addOption(new Option('--wait', 'follow every member operation to its end (steps on stderr)'))
      .addOption(
        new Option(
          '--dry-run',
          "print each member's plan; nothing changes; exit 1 if any would be refused",
        ).conflicts('wait'),
      );
  for (const type of ['failover', 'switchover', 'failback', 'start', 'stop'] as const) {
    const cmd = g
      .command(type)
      .description(`${type} every member scenario (one operation each)`)
      .argument('<group>')
      .requiredOption('--reason <text>', 'why (goes to the audit log and every member operation)');
    if (type === 'failover')
      cmd.option('--force', 'fence unreachable member productions through their hook or lease');
    withRunOptions(cmd).action(
      act(async (ref: string, o: GroupOpts) => {
        const c = ctx();
        const group = await resolve(c, 'groups', ref);
        return groupOperation(c, group, type, { reason: o.reason, ...(o.force && { force: true }) }, o);
      }),
    );
  }
  g.command('status')
    .description(
      "each member's side (production or replica) and whether the group is consistent or split; exit 1 when split",
    )
    .argument('<group>')
    .action(
      act(async (ref: string) => {
        const c = ctx();
        const group = await resolve(c, 'groups', ref);
        const st = await call(c, 'GET', `/api/v1/groups/${group.id}/status`);
        print(c, st, () =>
          [
            `group ${st.name}: ${st.consistency.toUpperCase()}${st.side ? ` (${st.side} side)` : ''}: ${st.reason}`,
            ...(st.splitAnnouncedAt ? [`split announced at ${st.splitAnnouncedAt}`] : []),
            table(
              st.members.map((m: any) => ({ ...m, side: m.side ?? '-', operation: m.operationId ?? '' })),
              ['name', 'state', 'side', 'operation'],
            ),
          ].join('\n'),
        );
        return st.consistency === 'split' ? EXIT.refused : EXIT.ok;
      }),
    );
  withRunOptions(
    g
      .command('recover')
      .description(
        'split recovery: every member keeps one side (or the node --member names), the other side fenced with a new epoch, DNS aligned',
      )
      .argument('<group>')
      .requiredOption('--reason <text>', 'why (goes to the audit log and every member operation)')
      .addOption(
        new Option('--keep <side>', 'the side every member keeps').choices(['production', 'replica']),
      )
      .option(
        '--member <scenario=node>',
        'keep this node for this member (repeatable; wins over --keep)',
        (v: string, prev: string[]) => [...prev, v],
        [] as string[],
      )
      .option('--force', 'fence unreachable nodes through the fencing hook or by waiting out their lease')
      .option('--confirm-fenced', 'with --force: the other side is confirmed powered off or isolated'),
  ).action(
    act(async (ref: string, o: GroupOpts & { keep?: string; member: string[]; confirmFenced?: boolean }) => {
      const c = ctx();
      if (!o.keep && o.member.length === 0)
        throw new CliError('give --keep production|replica or --member', EXIT.usage);
      if (o.confirmFenced && !o.force) throw new CliError('--confirm-fenced needs --force', EXIT.usage);
      const group = await resolve(c, 'groups', ref);
      const members = [];
      for (const m of o.member) {
        const [scenario, node] = m.split('=');
        if (!scenario || !node) throw new CliError(`--member ${m}: expected <scenario>=<node>`, EXIT.usage);
        members.push({
          scenarioId: (await resolve(c, 'scenarios', scenario)).id,
          activeNodeId: (await resolve(c, 'nodes', node)).id,
        });
      }
      const body = {
        reason: o.reason,
        ...(o.keep && { keep: o.keep }),
        ...(members.length && { members }),
        ...(o.force && { force: true }),
        ...(o.confirmFenced && { confirmFenced: true }),
      };
      return groupOperation(c, group, 'active-server-recovery', body, o);
    }),
  );
  const runRows = (run: any) =>
    table(
      run.members.map((m: any) => ({
        ...m,
        result: m.arResult ?? '',
        took: m.result?.durationMs != null ? `${(m.result.durationMs / 1000).toFixed(1)} s` : '',
        why: m.error ?? '',
      })),
      ['name', 'state', 'result', 'took', 'why'],
    );
  const summaryText = (run: any) =>
    run.summary
      ? Object.entries(run.summary)
          .filter(([, n]) => (n as number) > 0)
          .map(([k, n]) => `${n as number} ${k}`)
          .join(', ')
      : 'running';
  g.command('ar-test')
    .description(
      "AR test of every member's replica, a few at a time, one report; production and DNS untouched",
    )
    .argument('<group>')
    .requiredOption('--reason <text>', 'why (goes to the audit log and every member test)')
    .option('--max-parallel <n>', 'member tests at once (default 2)', (v: string) => Number(v))
    .option('--snapshot', 'take a snapshot of each replica copy')
    .addOption(
      new Option('--wait', 'follow the run to its end; exit 4 if a test failed, 1 if a member was refused'),
    )
    .action(
      act(
        async (
          ref: string,
          o: { reason: string; maxParallel?: number; snapshot?: boolean; wait?: boolean },
        ) => {
          const c = ctx();
          const group = await resolve(c, 'groups', ref);
          let run = await call(c, 'POST', `/api/v1/groups/${group.id}/ar-test`, {
            reason: o.reason,
            ...(o.maxParallel !== undefined && { maxParallel: o.maxParallel }),
            ...(o.snapshot && { snapshot: true }),
          });
          while (o.wait && run.state !== 'done') {
            await new Promise((r) => setTimeout(r, 1000));
            run = await call(c, 'GET', `/api/v1/groups/${group.id}/ar-runs/${run.id}`);
          }
          print(c, run, () =>
            [`AR run ${run.id} of group ${group.name}: ${summaryText(run)}`, runRows(run)].join('\n'),
          );
          if (run.state !== 'done') return EXIT.ok;
          if (run.summary.failed > 0 || run.summary.error > 0 || run.summary.aborted > 0) return EXIT.failed;
          return run.summary.refused > 0 ? EXIT.refused : EXIT.ok;
        },
      ),
    );
  g.command('ar-runs')
    .description("the group's AR runs, newest first")
    .argument('<group>')
    .action(
      act(async (ref: string) => {
        const c = ctx();
        const group = await resolve(c, 'groups', ref);
        const page = await call(c, 'GET', `/api/v1/groups/${group.id}/ar-runs?limit=20`);
        print(c, page, () =>
          table(
            page.items.map((r: any) => ({ ...r, result: summaryText(r), members: r.members.length })),
            ['id', 'state', 'members', 'result', 'createdAt', 'requestedBy'],
          ),
        );
        return EXIT.ok;
      }),
    );
}

function addAssuredRecovery(program: Command, ctx: () => Ctx, act: Act): void {
  const ar = program.command('ar').description('Assured Recovery: non-disruptive tests on a replica');
  ar.command('schedules')
    .description('the AR schedule of every scenario')
    .action(
      act(async () => {
        const c = ctx();
        const page = await call(c, 'GET', '/api/v1/scenarios?limit=500');
        const rows = page.items.map((s: any) => ({
          scenarioId: s.id,
          name: s.name,
          state: s.state,
          arSchedule: s.arSchedule,
          arSnapshot: s.arSnapshot,
        }));
        print(c, rows, () =>
          table(
            rows.map((r: any) => ({
              ...r,
              schedule: r.arSchedule ?? 'none',
              snapshot: r.arSnapshot ? 'yes' : 'no',
            })),
            ['name', 'state', 'schedule', 'snapshot'],
          ),
        );
        return EXIT.ok;
      }),
    );
  ar.command('results')
    .alias('tests')
    .description('recent AR tests of a scenario, newest first')
    .argument('<scenario>')
    .option('--limit <n>', 'how many (1-200, default 20)', integer(1, 200))
    .action(
      act(async (ref: string, o: { limit?: number }) => {
        const c = ctx();
        const s = await resolve(c, 'scenarios', ref);
        const results = await call(
          c,
          'GET',
          `/api/v1/scenarios/${s.id}/ar-results${query({ limit: o.limit })}`,
        );
        const nodes = await call(c, 'GET', '/api/v1/nodes?limit=500');
        const node = (id: string | null) => nodes.items.find((n: any) => n.id === id)?.name ?? id;
        print(c, results, () =>
          results.length
            ? table(
                results.map((r: any) => ({
                  ...r,
                  result: r.arResult ?? '-',
                  replica: node(r.targetNodeId),
                  ms: r.durationMs,
                })),
                ['createdAt', 'operationId', 'state', 'result', 'replica', 'ms', 'requestedBy'],
              )
            : `no AR test of ${s.name} yet`,
        );
        return EXIT.ok;
      }),
    );
  ar.command('test')
    .description('run an AR test now: production and DNS are not touched')
    .argument('<scenario>')
    .requiredOption('--reason <text>', 'why (goes to the audit log)')
    .option('--target <node>', 'the replica to test (default: the first replica)')
    .option('--snapshot', 'take a snapshot of the replica copy')
    .option('--no-snapshot', 'no snapshot (default: the scenario’s arSnapshot)')
    .addOption(new Option('--wait', 'follow the test to its end; exit 4 unless it passed'))
    .addOption(new Option('--dry-run', 'print the plan; nothing changes').conflicts('wait'))
    .action(
      act(async (ref: string, o: any) => {
        const c = ctx();
        const s = await resolve(c, 'scenarios', ref);
        const body: Record<string, unknown> = { reason: o.reason };
        if (o.target) body.targetNodeId = (await resolve(c, 'nodes', o.target)).id;
        if (o.snapshot !== undefined) body.snapshot = o.snapshot;
        return submitOperation(c, `/api/v1/scenarios/${s.id}/ar-test`, body, o, async (op) => {
          const results = await call(c, 'GET', `/api/v1/scenarios/${s.id}/ar-results?limit=200`);
          const mine = results.find((r: any) => r.operationId === op.id);
          const arResult = mine?.arResult ?? null;
          return {
            text: `AR result: ${arResult ?? 'none'}${mine?.checkOutput ? ` (${mine.checkOutput.trim().slice(0, 200)})` : ''}`,
            code: arResult === 'passed' ? EXIT.ok : EXIT.failed,
            data: { ...op, arResult, checkOutput: mine?.checkOutput ?? null },
          };
        });
      }),
    );
}

function addWebhooks(program: Command, ctx: () => Ctx, act: Act): void {
  const w = program
    .command('webhook')
    .alias('webhooks')
    .description('webhook subscriptions and their delivery log (admin)');
  const rows = (items: any[]) =>
    table(
      items.map((x) => ({
        ...x,
        kinds: x.kinds.length ? x.kinds.join(',') : 'all',
        scope: x.scenarioId ? `scenario ${x.scenarioId}` : x.groupId ? `group ${x.groupId}` : 'all',
        enabled: x.enabled ? 'yes' : 'no',
        signed: x.secretSet ? 'yes' : 'no',
      })),
      ['id', 'name', 'url', 'enabled', 'signed', 'kinds', 'scope'],
    );
  const deliveries = (items: any[]) =>
    table(items, ['id', 'kind', 'state', 'attempts', 'responseStatus', 'latencyMs', 'createdAt', 'error']);
  w.command('list', { isDefault: true })
    .description('list subscriptions (never their secrets)')
    .action(
      act(async () => {
        const c = ctx();
        const page = await call(c, 'GET', '/api/v1/webhooks?limit=500');
        print(c, page, () => (page.items.length ? rows(page.items) : 'no webhook'));
        return EXIT.ok;
      }),
    );
  w.command('show')
    .description('one subscription')
    .argument('<webhook>', 'name or id')
    .action(
      act(async (ref: string) => {
        const c = ctx();
        const hook = await resolve(c, 'webhooks', ref);
        print(c, hook, () => rows([hook]));
        return EXIT.ok;
      }),
    );
  w.command('create')
    .description('subscribe a URL to events')
    .argument('<name>')
    .argument('<url>', 'http(s) URL that receives the events')
    .option('--kinds <k1,k2>', 'event kinds (default: all)')
    .option('--scenario <scenario>', "only this scenario's events")
    .option('--group <group>', "only events of this group's members")
    .option('--secret-file <file>', 'HMAC key for X-HA-Signature, read from a file ("-": stdin)')
    .option('--max-attempts <n>', 'attempts before dead (1-20)', integer(1, 20))
    .option('--timeout-ms <ms>', 'per attempt (500-30000)', integer(500, 30000))
    .option('--disabled', 'create it disabled')
    .action(
      act(async (name: string, url: string, o: any) => {
        if (o.scenario && o.group) throw new CliError('give --scenario or --group, not both', EXIT.usage);
        let secret: string | undefined;
        if (o.secretFile) {
          try {
            secret = readFileSync(o.secretFile === '-' ? 0 : o.secretFile, 'utf8').trim();
          } catch (err) {
            throw new CliError(`cannot read the secret: ${(err as Error).message}`, EXIT.usage);
          }
        }
        const c = ctx();
        const hook = await call(c, 'POST', '/api/v1/webhooks', {
          name,
          url,
          ...(o.kinds && { kinds: String(o.kinds).split(',').filter(Boolean) }),
          ...(o.scenario && { scenarioId: (await resolve(c, 'scenarios', o.scenario)).id }),
          ...(o.group && { groupId: (await resolve(c, 'groups', o.group)).id }),
          ...(secret !== undefined && { secret }),
          ...(o.maxAttempts !== undefined && { maxAttempts: o.maxAttempts }),
          ...(o.timeoutMs !== undefined && { timeoutMs: o.timeoutMs }),
          ...(o.disabled && { enabled: false }),
        });
        print(c, hook, () => `webhook ${hook.name} created (${hook.id})`);
        return EXIT.ok;
      }),
    );
  w.command('delete')
    .description('delete a subscription and its delivery log')
    .argument('<webhook>', 'name or id')
    .action(
      act(async (ref: string) => {
        const c = ctx();
        const hook = await resolve(c, 'webhooks', ref);
        await call(c, 'DELETE', `/api/v1/webhooks/${hook.id}`);
        print(c, { id: hook.id, deleted: true }, () => `webhook ${hook.name} deleted`);
        return EXIT.ok;
      }),
    );
  w.command('ping')
    .description('send a ping event now')
    .argument('<webhook>', 'name or id')
    .action(
      act(async (ref: string) => {
        const c = ctx();
        const hook = await resolve(c, 'webhooks', ref);
        const d = await call(c, 'POST', `/api/v1/webhooks/${hook.id}/ping`);
        print(c, d, () => `ping ${d.id} queued to ${hook.name}; see: hactl webhook deliveries ${hook.name}`);
        return EXIT.ok;
      }),
    );
  w.command('deliveries')
    .description('delivery log, newest first')
    .argument('<webhook>', 'name or id')
    .option('--state <state>', 'only deliveries in this state (succeeded, retrying, dead, …)')
    .option('--limit <n>', 'how many (1-500, default 50)', integer(1, 500))
    .action(
      act(async (ref: string, o: { state?: string; limit?: number }) => {
        const c = ctx();
        const hook = await resolve(c, 'webhooks', ref);
        const page = await call(
          c,
          'GET',
          `/api/v1/webhooks/${hook.id}/deliveries${query({ state: o.state, limit: o.limit })}`,
        );
        print(c, page, () => (page.items.length ? deliveries(page.items) : 'no delivery'));
        return EXIT.ok;
      }),
    );
  w.command('redeliver')
    .description('send a delivery again (same body and X-HA-Event-Id), as a new delivery')
    .argument('<webhook>', 'name or id')
    .argument('<delivery>', 'delivery id')
    .option('--reason <text>', 'why (goes to the audit log)')
    .action(
      act(async (ref: string, deliveryId: string, o: { reason?: string }) => {
        const c = ctx();
        const hook = await resolve(c, 'webhooks', ref);
        const d = await call(
          c,
          'POST',
          `/api/v1/webhooks/${hook.id}/deliveries/${deliveryId}/redeliver`,
          o.reason ? { reason: o.reason } : {},
        );
        print(c, d, () => `delivery ${d.id} queued (again of ${deliveryId})`);
        return EXIT.ok;
      }),
    );
}

function addReports(program: Command, ctx: () => Ctx, act: Act): void {
  const r = program.command('report').alias('reports').description('exports and availability reports');
  const period = (cmd: Command) =>
    cmd
      .option('--from <iso>', 'start of the period (ISO 8601, inclusive)')
      .option('--to <iso>', 'end of the period (ISO 8601, exclusive; default now)')
      .option('-o, --output <file>', 'write to this file instead of stdout');
  period(r.command('audit').description('the audit log as CSV, oldest first (operator)'))
    .option('--actor <actor>')
    .option('--action <action>')
    .option('--target-type <type>')
    .option('--target-id <id>')
    .action(
      act(async (o: any) => {
        const c = ctx();
        const q = query({
          since: o.from,
          until: o.to,
          actor: o.actor,
          action: o.action,
          targetType: o.targetType,
          targetId: o.targetId,
        });
        return download(c, `/api/v1/reports/audit.csv${q}`, o.output);
      }),
    );
  period(r.command('events').description('events as CSV, oldest first'))
    .option('--scenario <scenario>')
    .option('--node <node>')
    .option('--kinds <k1,k2>')
    .action(
      act(async (o: any) => {
        const c = ctx();
        const q = query({
          since: o.from,
          until: o.to,
          scenarioId: o.scenario ? (await resolve(c, 'scenarios', o.scenario)).id : undefined,
          nodeId: o.node ? (await resolve(c, 'nodes', o.node)).id : undefined,
          kinds: o.kinds,
        });
        return download(c, `/api/v1/reports/events.csv${q}`, o.output);
      }),
    );
  period(
    r
      .command('availability')
      .description('per scenario: downtime, failovers, failure → DNS, AR pass rate (default last 30 days)'),
  )
    .option('--scenario <scenario>')
    .addOption(
      new Option('--format <format>', 'json or csv (default: a table, or JSON with --json)').choices([
        'json',
        'csv',
      ]),
    )
    .action(
      act(async (o: any) => {
        const c = ctx();
        const params = {
          since: o.from,
          until: o.to,
          scenarioId: o.scenario ? (await resolve(c, 'scenarios', o.scenario)).id : undefined,
        };
        if (o.format === 'csv')
          return download(
            { ...c, json: false },
            `/api/v1/reports/availability${query({ ...params, format: 'csv' })}`,
            o.output,
          );
        const json = c.json || o.format === 'json';
        if (o.output)
          return download({ ...c, json: false }, `/api/v1/reports/availability${query(params)}`, o.output);
        const report = await call(c, 'GET', `/api/v1/reports/availability${query(params)}`);
        print({ ...c, json }, report, () =>
          [
            `availability ${report.since} → ${report.until}`,
            table(
              report.scenarios.map((s: any) => ({
                name: s.name,
                'availability%': s.availabilityPercent ?? '-',
                downtimeMin: s.downtimeMinutes,
                failovers: s.failovers,
                auto: s.automaticFailovers,
                switchovers: s.switchovers,
                failbacks: s.failbacks,
                failedOps: s.failedOperations,
                'failure→dnsMeanMs': s.failureToDnsMs?.mean ?? '-',
                maxMs: s.failureToDnsMs?.max ?? '-',
                arPassed: `${s.arTests?.passed ?? 0}/${s.arTests?.total ?? 0}`,
              })),
              [
                'name',
                'availability%',
                'downtimeMin',
                'failovers',
                'auto',
                'switchovers',
                'failbacks',
                'failedOps',
                'failure→dnsMeanMs',
                'maxMs',
                'arPassed',
              ],
            ),
          ].join('\n'),
        );
        return EXIT.ok;
      }),
    );
}

/** Commander's own errors (unknown command, missing argument) are usage errors: exit 2. */
function commanderExit(err: CommanderError): number {
  if (err.code === 'commander.helpDisplayed' || err.code === 'commander.version') return EXIT.ok;
  return EXIT.usage;
}

async function main(argv: string[]): Promise<number> {
  const { program, exitCode } = buildProgram();
  try {
    await program.parseAsync(argv, { from: 'user' });
  } catch (err) {
    if (err instanceof CommanderError) return commanderExit(err);
    throw err;
  }
  return exitCode();
}

if (require.main === module) {
  main(process.argv.slice(2))
    .then((code) => process.exit(code))
    .catch((err: Error) => {
      console.error(`hactl: ${err.message}`);
      process.exit(err instanceof CliError ? err.exitCode : EXIT.refused);
    });
}
