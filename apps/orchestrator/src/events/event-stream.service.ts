/**
 * Reads the events table as a stream without gaps.
 *
 * Event ids come from a sequence, and a transaction can take id 100, commit after another has
 * taken and committed 101: a reader that follows `id > last` skips 100 for good. Each event row
 * therefore carries the id of the transaction that wrote it (`xid`, txid_current() by default), and
 * the stream reads in (xid, id) order only the rows of transactions older than every transaction
 * still running (txid_snapshot_xmin of the current snapshot). No transaction can later commit a row before that horizon, so a
 * cursor (xid, id) never passes an event that is yet to appear. A long-running transaction holds
 * the stream back while it runs; it never makes it skip.
 */
import { Injectable, BeforeApplicationShutdown } from '@nestjs/common';
import { DataSource } from 'typeorm';
import { SseStream } from './sse';

export interface StreamCursor {
  xid: string;
  id: string;
}

export interface StreamFilter {
  scenarioId?: string;
  nodeId?: string;
  groupId?: string;
  kinds?: string[];
}

export interface StreamEvent {
  id: string;
  xid: string;
  at: Date;
  kind: string;
  severity: string;
  nodeId: string | null;
  scenarioId: string | null;
  message: string;
  details: Record<string, unknown>;
}

/** Larger than any event id: with (horizon - 1, MAX_ID) the cursor starts at "now". */
const MAX_ID = '9223372036854775807';

@Injectable()
export class EventStreamService implements BeforeApplicationShutdown {
  /** Open streams: ended on shutdown, so closing the HTTP server does not wait for them. */
  private readonly open = new Set<SseStream>();

  constructor(private readonly dataSource: DataSource) {}

  /** Starts a stream on `reply` that shutdown will end. */
  track(sse: SseStream): SseStream {
    this.open.add(sse);
    void sse.closed.then(() => this.open.delete(sse));
    return sse;
  }

  get openStreams(): number {
    return this.open.size;
  }

  beforeApplicationShutdown(): void {
    for (const sse of this.open) sse.end();
    this.open.clear();
  }

  /** A cursor after every event visible now (a stream without Last-Event-ID starts here). */
  async now(): Promise<StreamCursor> {
    const [{ h }] = await this.dataSource.query(
      `SELECT (txid_snapshot_xmin(txid_current_snapshot()) - 1)::text AS h`,
    );
    return { xid: h, id: MAX_ID };
  }

  /** The cursor just after event `id`, or null when there is no such event (pruned, or never was). */
  async after(id: string): Promise<StreamCursor | null> {
    const rows: { xid: string }[] = await this.dataSource.query(
      `SELECT xid::text AS xid FROM events WHERE id = $1`,
      [id],
    );
    return rows.length ? { xid: rows[0].xid, id } : null;
  }

  /** Up to `limit` events after `cursor`, in stream order, that match `filter`. */
  async read(cursor: StreamCursor, filter: StreamFilter, limit: number): Promise<StreamEvent[]> {
    const where = [
      `(e.xid, e.id) > ($1::bigint, $2::bigint)`,
      `e.xid < txid_snapshot_xmin(txid_current_snapshot())`,
    ];
    const params: unknown[] = [cursor.xid, cursor.id];
    const add = (sql: string, value: unknown): void => {
      params.push(value);
      where.push(sql.replace('?', `$${params.length}`));
    };
    if (filter.scenarioId) add(`e."scenarioId" = ?`, filter.scenarioId);
    if (filter.nodeId) add(`e."nodeId" = ?`, filter.nodeId);
    if (filter.groupId)
      add(`e."scenarioId" IN (SELECT "scenarioId" FROM group_members WHERE "groupId" = ?)`, filter.groupId);
    if (filter.kinds?.length) add(`e.kind = ANY(?)`, filter.kinds);
    params.push(limit);
    return this.dataSource.query(
      `SELECT e.id::text AS id, e.xid::text AS xid, e.at, e.kind, e.severity, e."nodeId", e."scenarioId",
              e.message, e.details
         FROM events e
        WHERE ${where.join(' AND ')}
        ORDER BY e.xid, e.id
        LIMIT $${params.length}`,
      params,
    );
  }
}
