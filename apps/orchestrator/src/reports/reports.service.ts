/**
 * Reports: the audit log and the events as CSV, streamed (read in pages of 1,000 by id, so a year
 * of entries never sits in memory), and the availability of each scenario over a period.
 */
import { ServerResponse } from 'node:http';
import { Injectable, BeforeApplicationShutdown } from '@nestjs/common';
import { DataSource } from 'typeorm';
import { InvalidInputError, NotFoundError } from '../common/errors';
import { Availability, availability, SwitchingOperation, VerdictChange } from './availability';
import { csvRow } from './csv';
import {
  ArExportQuery,
  AuditExportQuery,
  AvailabilityQuery,
  EventsExportQuery,
  PeriodQuery,
} from './dtos/report.dto';

const PAGE = 1000;
const AR_COLUMNS = [
  'operationId',
  'scenarioId',
  'scenario',
  'createdAt',
  'startedAt',
  'finishedAt',
  'durationMs',
  'trigger',
  'requestedBy',
  'targetNodeId',
  'targetNode',
  'state',
  'arResult',
  'failure',
  'reason',
  'steps',
];
const DAY_MS = 86_400_000;
/** the longest availability period one report covers */
const MAX_AVAILABILITY_DAYS = 400;

export interface ScenarioAvailability extends Availability {
  scenarioId: string;
  name: string;
}

export interface AvailabilityReport {
  since: string;
  until: string;
  scenarios: ScenarioAvailability[];
}

export const AVAILABILITY_COLUMNS = [
  'scenarioId',
  'name',
  'periodMinutes',
  'downtimeMinutes',
  'availabilityPercent',
  'failovers',
  'automaticFailovers',
  'switchovers',
  'failbacks',
  'failedOperations',
  'failureToDnsCount',
  'failureToDnsMeanMs',
  'failureToDnsMaxMs',
  'arTests',
  'arPassed',
  'arPassRate',
] as const;

function period(q: PeriodQuery, defaultDays: number | null): { since: Date; until: Date } {
  const until = q.until ? new Date(q.until) : new Date();
  const since = q.since
    ? new Date(q.since)
    : defaultDays === null
      ? new Date(0)
      : new Date(until.getTime() - defaultDays * DAY_MS);
  if (since.getTime() >= until.getTime()) throw new InvalidInputError('since must be before until', 'since');
  return { since, until };
}

@Injectable()
export class ReportsService implements BeforeApplicationShutdown {
  /** Exports being sent: cut on shutdown, so closing the HTTP server never waits for a slow reader. */
  private readonly open = new Set<ServerResponse>();

  constructor(private readonly dataSource: DataSource) {}

  track(res: ServerResponse): void {
    this.open.add(res);
    res.once('close', () => this.open.delete(res));
  }

  beforeApplicationShutdown(): void {
    for (const res of this.open) res.destroy();
    this.open.clear();
  }

  /** Checks the query (throws a 400 before anything is sent), then streams the CSV. */
  auditCsv(q: AuditExportQuery): AsyncGenerator<string> {
    return this.export(
      'audit_log',
      ['id', 'at', 'actor', 'action', 'targetType', 'targetId', 'reason', 'requestId', 'details'],
      q,
      { actor: q.actor, action: q.action, targetType: q.targetType, targetId: q.targetId },
    );
  }

  eventsCsv(q: EventsExportQuery): AsyncGenerator<string> {
    return this.export(
      'events',
      ['id', 'at', 'kind', 'severity', 'scenarioId', 'nodeId', 'message', 'details'],
      q,
      { scenarioId: q.scenarioId, nodeId: q.nodeId, kind: q.kinds?.length ? q.kinds : undefined },
    );
  }

  /**
   * AR tests in the period (by creation), oldest first, one row each: result, replica, durations,
   * and each step as name:state:ms. Streamed a page at a time, keyed by (createdAt, id).
   */
  async arCsv(q: ArExportQuery): Promise<AsyncGenerator<string>> {
    if (q.scenarioId && q.groupId)
      throw new InvalidInputError('give scenarioId or groupId, not both', 'groupId');
    const { since, until } = period(q, null);
    if (q.scenarioId && !(await this.exists('scenarios', q.scenarioId)))
      throw new NotFoundError('scenario', q.scenarioId);
    if (q.groupId && !(await this.exists('groups', q.groupId))) throw new NotFoundError('group', q.groupId);
    const columns = AR_COLUMNS;
    const filter = q.scenarioId
      ? `AND o."scenarioId" = $5`
      : q.groupId
        ? `AND o."scenarioId" IN (SELECT "scenarioId" FROM group_members WHERE "groupId" = $5)`
        : '';
    const sql = `
      SELECT o.id AS "operationId", o."scenarioId", s.name AS scenario, o."createdAt",
             o."createdAt"::text AS "cursorAt", o."startedAt",
             o."finishedAt",
             (EXTRACT(EPOCH FROM (o."finishedAt" - COALESCE(o."startedAt", o."createdAt"))) * 1000)::int AS "durationMs",
             o.trigger, o."requestedBy", o.params->>'targetNodeId' AS "targetNodeId", n.name AS "targetNode",
             o.state, COALESCE(o.params->>'arResult', CASE WHEN o.params->>'abortRequested' = 'true' THEN 'aborted' END) AS "arResult",
             COALESCE(o.params->>'failure', o.error) AS failure, o.reason,
             (SELECT string_agg(st.name || ':' || st.state || ':' ||
                       COALESCE((EXTRACT(EPOCH FROM (st."finishedAt" - st."startedAt")) * 1000)::bigint::text, ''),
                       ';' ORDER BY st.position)
                FROM operation_steps st WHERE st."operationId" = o.id) AS steps
        FROM operations o
        LEFT JOIN scenarios s ON s.id = o."scenarioId"
        LEFT JOIN nodes n ON n.id::text = o.params->>'targetNodeId'
       WHERE o.type = 'ar-test' AND o."createdAt" >= $3 AND o."createdAt" < $4 ${filter}
         AND (o."createdAt", o.id) > ($1::timestamptz, $2::uuid)
       ORDER BY o."createdAt", o.id LIMIT ${PAGE}`;
    const params: unknown[] = [
      since,
      until,
      ...(q.scenarioId ? [q.scenarioId] : q.groupId ? [q.groupId] : []),
    ];
    const dataSource = this.dataSource;
    return (async function* () {
      yield csvRow(columns);
      // The cursor is PostgreSQL's own text of createdAt (microseconds; a JS Date keeps milliseconds
      // and would repeat the last row of every page).
      let cursor: [string, string] = ['-infinity', '00000000-0000-0000-0000-000000000000'];
      for (;;) {
        const rows: Record<string, unknown>[] = await dataSource.query(sql, [...cursor, ...params]);
        if (rows.length === 0) return;
        yield rows.map((r) => csvRow(columns.map((c) => r[c]))).join('');
        if (rows.length < PAGE) return;
        const last = rows[rows.length - 1];
        cursor = [String(last.cursorAt), String(last.operationId)];
      }
    })();
  }

  private async exists(table: 'scenarios' | 'groups', id: string): Promise<boolean> {
    return (await this.dataSource.query(`SELECT 1 FROM ${table} WHERE id = $1`, [id])).length > 0;
  }

  /** `columns` of `table` in the period, where each given filter column equals (or, for a list, is one of) its value. */
  private export(
    table: string,
    columns: string[],
    q: PeriodQuery,
    filters: Record<string, string | string[] | undefined>,
  ): AsyncGenerator<string> {
    const { since, until } = period(q, null);
    const params: unknown[] = [since, until];
    const where = [`at >= $2`, `at < $3`];
    for (const [column, value] of Object.entries(filters)) {
      if (value === undefined) continue;
      params.push(value);
      const n = params.length + 1; // $1 is the page cursor
      where.push(Array.isArray(value) ? `"${column}" = ANY($${n})` : `"${column}" = $${n}`);
    }
    const sql = `SELECT ${columns.map((c) => `"${c}"`).join(', ')} FROM ${table}
                  WHERE id > $1 AND ${where.join(' AND ')} ORDER BY id LIMIT ${PAGE}`;
    return this.pages(sql, params, columns);
  }

  private async *pages(sql: string, params: unknown[], columns: string[]): AsyncGenerator<string> {
    yield csvRow(columns);
    let last = '0';
    for (;;) {
      const rows: Record<string, unknown>[] = await this.dataSource.query(sql, [last, ...params]);
      if (rows.length === 0) return;
      // one chunk per page: fewer, larger writes
      yield rows.map((r) => csvRow(columns.map((c) => r[c]))).join('');
      if (rows.length < PAGE) return;
      last = String(rows[rows.length - 1].id);
    }
  }

  async availability(q: AvailabilityQuery): Promise<AvailabilityReport> {
    const { since, until } = period(q, 30);
    if (until.getTime() - since.getTime() > MAX_AVAILABILITY_DAYS * DAY_MS)
      throw new InvalidInputError(`a report covers at most ${MAX_AVAILABILITY_DAYS} days`, 'since');
    const ds = this.dataSource;
    const scenarios: {
      id: string;
      name: string;
      createdAt: Date;
      activeNodeId: string;
      productionNodeId: string;
    }[] = await ds.query(
      `SELECT id, name, "createdAt", "activeNodeId", "productionNodeId" FROM scenarios
          WHERE "createdAt" < $1 ${q.scenarioId ? 'AND id = $2' : ''} ORDER BY name`,
      q.scenarioId ? [until, q.scenarioId] : [until],
    );
    if (q.scenarioId && scenarios.length === 0)
      throw new InvalidInputError(`no scenario ${q.scenarioId}`, 'scenarioId');
    if (scenarios.length === 0)
      return { since: since.toISOString(), until: until.toISOString(), scenarios: [] };
    const ids = scenarios.map((s) => s.id);
    const replicas: { scenarioId: string; nodeId: string }[] = await ds.query(
      `SELECT "scenarioId", "nodeId" FROM scenario_replicas WHERE "scenarioId" = ANY($1)`,
      [ids],
    );
    const nodesOf = new Map<string, Set<string>>(
      scenarios.map((s) => [s.id, new Set([s.productionNodeId, s.activeNodeId])]),
    );
    for (const r of replicas) nodesOf.get(r.scenarioId)!.add(r.nodeId);
    const nodeIds = [...new Set([...nodesOf.values()].flatMap((s) => [...s]))];

    const ops: {
      scenarioId: string;
      type: string;
      trigger: 'auto' | 'manual';
      createdAt: Date;
      switchedAt: Date;
      oldActive: string | null;
      target: string | null;
    }[] = await ds.query(
      `SELECT o."scenarioId", o.type, o.trigger, o."createdAt", s."finishedAt" AS "switchedAt",
              o.params->>'oldActiveNodeId' AS "oldActive", o.params->>'targetNodeId' AS target
         FROM operations o
         JOIN operation_steps s ON s."operationId" = o.id AND s.name = 'verify-dns' AND s.state = 'done'
        WHERE o.state = 'succeeded' AND o.type IN ('failover', 'switchover', 'failback')
          AND o."scenarioId" = ANY($1) AND s."finishedAt" < $2`,
      [ids, until],
    );
    const verdicts: { nodeId: string; at: Date; to: string }[] = await ds.query(
      `SELECT "nodeId", at, details->>'to' AS to FROM events
        WHERE kind = 'verdict-changed' AND "nodeId" = ANY($1) AND at >= $2 AND at < $3
       UNION ALL
       SELECT * FROM (SELECT DISTINCT ON ("nodeId") "nodeId", at, details->>'to' AS to FROM events
        WHERE kind = 'verdict-changed' AND "nodeId" = ANY($1) AND at < $2 ORDER BY "nodeId", at DESC) before`,
      [nodeIds, since, until],
    );
    const failed: { scenarioId: string; n: number }[] = await ds.query(
      `SELECT "scenarioId", count(*)::int AS n FROM operations
        WHERE state = 'failed' AND "scenarioId" = ANY($1) AND "createdAt" >= $2 AND "createdAt" < $3 GROUP BY 1`,
      [ids, since, until],
    );
    const ar: { scenarioId: string; result: string | null }[] = await ds.query(
      `SELECT "scenarioId", details->>'arResult' AS result FROM events
        WHERE kind = 'ar-test-result' AND "scenarioId" = ANY($1) AND at >= $2 AND at < $3`,
      [ids, since, until],
    );

    const group = <T extends { scenarioId: string }>(rows: T[]) => {
      const m = new Map<string, T[]>();
      for (const r of rows) {
        if (!m.has(r.scenarioId)) m.set(r.scenarioId, []);
        m.get(r.scenarioId)!.push(r);
      }
      return m;
    };
    const opsBy = group(ops);
    const arBy = group(ar);
    const failedBy = new Map(failed.map((f) => [f.scenarioId, f.n]));
    return {
      since: since.toISOString(),
      until: until.toISOString(),
      scenarios: scenarios.map((s) => {
        const mine = nodesOf.get(s.id)!;
        const switching: SwitchingOperation[] = (opsBy.get(s.id) ?? []).map((o) => ({
          type: o.type,
          trigger: o.trigger,
          createdAt: new Date(o.createdAt),
          switchedAt: new Date(o.switchedAt),
          oldActiveNodeId: o.oldActive,
          targetNodeId: o.target,
        }));
        const vs: VerdictChange[] = verdicts
          .filter((v) => mine.has(v.nodeId))
          .map((v) => ({ nodeId: v.nodeId, at: new Date(v.at), to: v.to }));
        return {
          scenarioId: s.id,
          name: s.name,
          ...availability({
            since,
            until,
            createdAt: new Date(s.createdAt),
            activeNodeIdNow: s.activeNodeId,
            operations: switching,
            verdicts: vs,
            failedOperations: failedBy.get(s.id) ?? 0,
            arResults: (arBy.get(s.id) ?? []).map((r) => r.result ?? 'none'),
          }),
        };
      }),
    };
  }

  availabilityCsv(report: AvailabilityReport): string {
    return (
      csvRow([...AVAILABILITY_COLUMNS]) +
      report.scenarios
        .map((s) =>
          csvRow([
            s.scenarioId,
            s.name,
            s.periodMinutes,
            s.downtimeMinutes,
            s.availabilityPercent,
            s.failovers,
            s.automaticFailovers,
            s.switchovers,
            s.failbacks,
            s.failedOperations,
            s.failureToDnsMs.count,
            s.failureToDnsMs.mean,
            s.failureToDnsMs.max,
            s.arTests.total,
            s.arTests.passed,
            s.arTests.passRate,
          ]),
        )
        .join('')
    );
  }
}
