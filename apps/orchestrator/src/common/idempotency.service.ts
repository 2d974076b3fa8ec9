/**
 * Storage side of Idempotency-Key: a placeholder row claims (actor, key) before the request runs,
 * so of two concurrent duplicates only one executes; the finished response replaces the
 * placeholder and is replayed to later duplicates for 24 h.
 */
import { createHash } from 'node:crypto';
import { Injectable } from '@nestjs/common';
import { Interval } from '@nestjs/schedule';
import { DataSource } from 'typeorm';
import { DomainError } from './errors';
import { createLogger } from './logger';

const log = createLogger('IdempotencyService');

export const IDEMPOTENCY_TTL_HOURS = 24;
/** statusCode of a row whose request is still running. */
const IN_PROGRESS = 0;

export class IdempotencyKeyReusedError extends DomainError {
  readonly status = 422;
  readonly code = 'idempotency_key_reused';
  constructor() {
    super('this Idempotency-Key was used with another request (method, path or body); use a new key', {
      field: 'Idempotency-Key',
    });
  }
}

export class IdempotencyKeyInProgressError extends DomainError {
  readonly status = 409;
  readonly code = 'idempotency_key_in_progress';
  constructor() {
    super('request with this key in progress; retry when it has finished', { field: 'Idempotency-Key' });
  }
}

export interface IdempotentRequest {
  actor: string;
  key: string;
  method: string;
  path: string;
  requestHash: string;
}

export type Claim = { kind: 'claimed' } | { kind: 'replay'; statusCode: number; body: unknown };

/**
 * Secrets shown once (API tokens, agent and action tokens) are never written to this table: the
 * stored response has them as null, so a replay tells the client the request was done but cannot
 * hand the secret out a second time (rotate it if the first response was lost).
 */
const SECRET_FIELDS = new Set(['token', 'agentToken', 'actionToken', 'peerToken', 'secret']);

export function withoutSecrets(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(withoutSecrets);
  if (value === null || typeof value !== 'object') return value;
  return Object.fromEntries(
    Object.entries(value as Record<string, unknown>).map(([k, v]) => [
      k,
      SECRET_FIELDS.has(k) && v !== null && v !== undefined ? null : withoutSecrets(v),
    ]),
  );
}

/** JSON with sorted object keys, so the same body with another key order hashes the same. */
export function stableStringify(value: unknown): string {
  if (value === undefined) return 'null';
  if (value === null || typeof value !== 'object') return JSON.stringify(value);
  if (Array.isArray(value)) return `[${value.map(stableStringify).join(',')}]`;
  const entries = Object.keys(value as Record<string, unknown>)
    .sort()
    .filter((k) => (value as Record<string, unknown>)[k] !== undefined)
    .map((k) => `${JSON.stringify(k)}:${stableStringify((value as Record<string, unknown>)[k])}`);
  return `{${entries.join(',')}}`;
}

export function hashRequestBody(body: unknown): string {
  return createHash('sha256').update(stableStringify(body)).digest('hex');
}

/** The path column holds 512 characters: a longer URL keeps its head plus a hash of the whole. */
export function storablePath(url: string): string {
  if (url.length <= 512) return url;
  return `${url.slice(0, 447)}#${createHash('sha256').update(url).digest('hex')}`;
}

@Injectable()
export class IdempotencyService {
  constructor(private readonly dataSource: DataSource) {}

  /**
   * Claims the key for this request (placeholder row, committed at once in its own transaction),
   * or returns the stored response of an earlier identical request. Throws 422 when the key was
   * used for another request and 409 while the first one still runs.
   */
  async claim(r: IdempotentRequest): Promise<Claim> {
    for (let attempt = 0; attempt < 3; attempt++) {
      const outcome = await this.dataSource.transaction(async (m): Promise<Claim | null> => {
        // An expired key is as good as unused.
        await m.query(
          `DELETE FROM idempotency_keys WHERE actor = $1 AND key = $2
             AND "createdAt" < now() - make_interval(hours => $3)`,
          [r.actor, r.key, IDEMPOTENCY_TTL_HOURS],
        );
        const inserted: unknown[] = await m.query(
          `INSERT INTO idempotency_keys (actor, key, method, path, "requestHash", "statusCode", "responseBody")
           VALUES ($1, $2, $3, $4, $5, $6, NULL)
           ON CONFLICT (actor, key) DO NOTHING RETURNING key`,
          [r.actor, r.key, r.method, r.path, r.requestHash, IN_PROGRESS],
        );
        if (inserted.length) return { kind: 'claimed' };
        const rows: {
          method: string;
          path: string;
          requestHash: string;
          statusCode: number;
          responseBody: unknown;
        }[] = await m.query(
          `SELECT method, path, "requestHash", "statusCode", "responseBody" FROM idempotency_keys
             WHERE actor = $1 AND key = $2`,
          [r.actor, r.key],
        );
        if (!rows.length) return null; // released by a failed request meanwhile: try again
        const row = rows[0];
        if (row.method !== r.method || row.path !== r.path || row.requestHash !== r.requestHash) {
          throw new IdempotencyKeyReusedError();
        }
        if (row.statusCode === IN_PROGRESS) throw new IdempotencyKeyInProgressError();
        return { kind: 'replay', statusCode: row.statusCode, body: row.responseBody };
      });
      if (outcome) return outcome;
    }
    throw new IdempotencyKeyInProgressError();
  }

  /** Stores the final response in place of the placeholder. */
  async complete(actor: string, key: string, statusCode: number, body: unknown): Promise<void> {
    await this.dataSource.query(
      `UPDATE idempotency_keys SET "statusCode" = $3, "responseBody" = $4::jsonb
       WHERE actor = $1 AND key = $2 AND "statusCode" = $5`,
      [actor, key, statusCode, body === undefined ? null : JSON.stringify(withoutSecrets(body)), IN_PROGRESS],
    );
  }

  /** Forgets the placeholder (the request failed in a way a retry may fix, e.g. a 5xx). */
  async release(actor: string, key: string): Promise<void> {
    await this.dataSource.query(
      `DELETE FROM idempotency_keys WHERE actor = $1 AND key = $2 AND "statusCode" = $3`,
      [actor, key, IN_PROGRESS],
    );
  }

  @Interval('idempotency-cleanup', 60 * 60 * 1000)
  async cleanup(): Promise<number> {
    try {
      const [, affected] = (await this.dataSource.query(
        `DELETE FROM idempotency_keys WHERE "createdAt" < now() - make_interval(hours => $1)`,
        [IDEMPOTENCY_TTL_HOURS],
      )) as [unknown, number];
      if (affected) log.info({ deleted: affected }, 'expired idempotency keys deleted');
      return affected ?? 0;
    } catch (err) {
      log.warn({ err: (err as Error).message }, 'idempotency key cleanup failed');
      return 0;
    }
  }
}
