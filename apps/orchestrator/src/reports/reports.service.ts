/**
 * Reports: the audit log and the events as CSV, streamed (read in pages of 1,000 by id, so a year
 * of entries never sits in memory), and the availability of each scenario over a period.
 */
import { ServerResponse } from 'node:http';
import { Injectable, BeforeApplicationShutdown } from '@nestjs/common';
import { DataSource } from 'typeorm';
import { InvalidInputError } from '../common/errors';
import { Availability, availability, SwitchingOperation, VerdictChange } from './availability';
import { csvRow } from './csv';
import { AuditExportQuery, AvailabilityQuery, EventsExportQuery, PeriodQuery } from './dtos/report.dto';

const PAGE = 1000;
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
