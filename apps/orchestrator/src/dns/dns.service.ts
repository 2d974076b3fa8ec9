/**
 * DNS redirection for operations: epoch-fenced record writes in PostgreSQL (the source of truth),
 * then applied through the configured provider, then verified by asking the authoritative server.
 */
import { Inject, Injectable } from '@nestjs/common';
import { DataSource, EntityManager } from 'typeorm';
import { StaleEpochError, TransientError } from '../common/errors';
import { mapLimit } from '../common/coalesce';
import { createLogger } from '../common/logger';
import { ScenarioDnsRecord } from '../scenarios/scenario.types';
import { DNS_PROVIDER, DnsProvider, DnsRecordWrite } from './dns-provider.interface';
import { canonicalIpv6 } from './embedded/dns-name.util';

const log = createLogger('DnsService');

export function normalizeValue(type: string, value: string): string {
  const v = value.toLowerCase().replace(/\.$/, '');
  return type === 'AAAA' ? canonicalIpv6(v) : v;
}

@Injectable()
export class DnsService {
  constructor(
    @Inject(DNS_PROVIDER) readonly provider: DnsProvider,
    private readonly dataSource: DataSource,
  ) {}

  writesFor(
    scenarioId: string,
    records: ScenarioDnsRecord[],
    address: string,
    epoch: number,
  ): DnsRecordWrite[] {
    return records.map((r) => ({ ...r, value: address, epoch, scenarioId }));
  }

  /**
   * Record the desired values inside the caller's transaction. Refuses (StaleEpochError) a write
   * whose epoch is lower than the stored one; an equal epoch is the same operation retrying.
   */
  async persist(m: EntityManager, writes: DnsRecordWrite[]): Promise<void> {
    const [stale] = await this.staleOf(m, writes);
    if (stale)
      throw new StaleEpochError(stale.current, stale.write.epoch, `DNS write of ${stale.write.name}`);
    // A record created meanwhile with a newer epoch (no row to lock before): refused the same way.
    const [raced] = await this.persistMany(m, writes);
    if (raced)
      throw new StaleEpochError(raced.current, raced.write.epoch, `DNS write of ${raced.write.name}`);
  }

  /**
   * persist for many records in one statement (a batch of operations): returns the writes refused
   * because the stored epoch is newer (with that epoch); the others are stored. Names must be
   * distinct.
   */
  async persistMany(
    m: EntityManager,
    writes: DnsRecordWrite[],
  ): Promise<{ write: DnsRecordWrite; current: number }[]> {
    if (writes.length === 0) return [];
    const stored: { name: string; type: string }[] = await m.query(
      `INSERT INTO dns_records ("scenarioId", zone, name, type, ttl, value, epoch)
       SELECT * FROM unnest($1::uuid[], $2::varchar[], $3::varchar[], $4::varchar[], $5::int[], $6::varchar[], $7::int[])
       ON CONFLICT (name, type) DO UPDATE SET
         value = EXCLUDED.value, epoch = EXCLUDED.epoch, ttl = EXCLUDED.ttl, zone = EXCLUDED.zone,
         "scenarioId" = EXCLUDED."scenarioId", "updatedAt" = now()
       WHERE dns_records.epoch <= EXCLUDED.epoch
       RETURNING name, type`,
      [
        writes.map((w) => w.scenarioId),
        writes.map((w) => w.zone),
        writes.map((w) => w.name),
        writes.map((w) => w.type),
        writes.map((w) => w.ttl),
        writes.map((w) => w.value),
        writes.map((w) => w.epoch),
      ],
    );
    const ok = new Set(stored.map((r) => `${r.name}/${r.type}`));
    const stale = writes.filter((w) => !ok.has(`${w.name}/${w.type}`));
    if (stale.length === 0) return [];
    const current: { name: string; type: string; epoch: number }[] = await m.query(
      `SELECT name, type, epoch FROM dns_records WHERE name = ANY($1)`,
      [stale.map((w) => w.name)],
    );
    const epochOf = new Map(current.map((r) => [`${r.name}/${r.type}`, Number(r.epoch)]));
    return stale.map((write) => ({ write, current: epochOf.get(`${write.name}/${write.type}`) ?? NaN }));
  }

  /** The writes whose record already holds a newer epoch (those rows locked until commit). */
  async staleOf(
    m: EntityManager,
    writes: DnsRecordWrite[],
  ): Promise<{ write: DnsRecordWrite; current: number }[]> {
    if (writes.length === 0) return [];
    const rows: { name: string; type: string; epoch: number }[] = await m.query(
      `SELECT name, type, epoch FROM dns_records WHERE name = ANY($1) ORDER BY name, type FOR UPDATE`,
      [writes.map((w) => w.name)],
    );
    const epochOf = new Map(rows.map((r) => [`${r.name}/${r.type}`, Number(r.epoch)]));
    return writes
      .filter((w) => (epochOf.get(`${w.name}/${w.type}`) ?? -1) > w.epoch)
      .map((write) => ({ write, current: epochOf.get(`${write.name}/${write.type}`)! }));
  }

  /** apply for many records: one provider call when it takes batches (the embedded one does). */
  async applyMany(writes: DnsRecordWrite[]): Promise<void> {
    if (!this.provider.applyMany) {
      // One by one; a stale write (a newer operation raced us) does not stop the others.
      for (const w of writes) await this.apply([w]).catch(() => undefined);
      return;
    }
    try {
      await this.provider.applyMany(writes);
    } catch (err) {
      if (err instanceof StaleEpochError) throw err;
      log.warn(
        { err: (err as Error).message, records: writes.length },
        'DNS apply failed; verify will retry',
      );
    }
  }

  /** Push to the provider; failures are left to verify(), which re-applies from PostgreSQL. */
  async apply(writes: DnsRecordWrite[]): Promise<void> {
    for (const w of writes) {
      try {
        await this.provider.apply(w);
      } catch (err) {
        if (err instanceof StaleEpochError) throw err;
        log.warn({ err: (err as Error).message, name: w.name }, 'DNS apply failed; verify will retry');
      }
    }
  }

  /**
   * verify for many records: rounds over the records not confirmed yet, at most `inFlight`
   * queries at a time, re-applying the pending ones every fifth round; returns what is still
   * pending when `timeoutMs` is up (nothing thrown).
   */
  async verifyMany(
    writes: DnsRecordWrite[],
    timeoutMs: number,
    inFlight = 64,
  ): Promise<{ pending: DnsRecordWrite[]; rounds: number }> {
    const started = Date.now();
    let pending = writes;
    let rounds = 0;
    while (pending.length > 0) {
      rounds++;
      const still: DnsRecordWrite[] = [];
      const results = await mapLimit(pending, inFlight, (w) => this.provider.query(w));
      results.forEach((r, k) => {
        const w = pending[k];
        const values = r.status === 'fulfilled' ? r.value : [];
        if (!values.map((v) => normalizeValue(w.type, v)).includes(normalizeValue(w.type, w.value)))
          still.push(w);
      });
      pending = still;
      if (pending.length === 0 || Date.now() - started > timeoutMs) break;
      if (rounds % 5 === 1) await this.applyMany(pending).catch(() => undefined);
      await new Promise((r) => setTimeout(r, 20));
    }
    return { pending, rounds };
  }

  /** Ask the server until every record answers its desired value; re-apply every few rounds if not. */
  async verify(writes: DnsRecordWrite[], timeoutMs: number): Promise<{ rounds: number; ms: number }> {
    const started = Date.now();
    const { pending, rounds } = await this.verifyMany(writes, timeoutMs);
    if (pending.length > 0) {
      throw new TransientError(
        `DNS does not answer the new value yet for ${pending.map((p) => p.name).join(', ')}`,
      );
    }
    return { rounds, ms: Date.now() - started };
  }
}
