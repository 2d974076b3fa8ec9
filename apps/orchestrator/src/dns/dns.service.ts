/**
 * DNS redirection for operations: epoch-fenced record writes in PostgreSQL (the source of truth),
 * then applied through the configured provider, then verified by asking the authoritative server.
 */
import { Inject, Injectable } from '@nestjs/common';
import { DataSource, EntityManager } from 'typeorm';
import { StaleEpochError, TransientError } from '../common/errors';
import { createLogger } from '../common/logger';
import { ScenarioDnsRecord } from '../scenarios/scenario.types';
import { DNS_PROVIDER, DnsProvider, DnsRecordWrite } from './dns-provider.interface';
import { DnsRecordEntity } from './dns-record.entity';
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
    const repo = m.getRepository(DnsRecordEntity);
    for (const w of writes) {
      const row = await repo.findOne({
        where: { name: w.name, type: w.type },
        lock: { mode: 'pessimistic_write' },
      });
      if (row && row.epoch > w.epoch) throw new StaleEpochError(row.epoch, w.epoch, `DNS write of ${w.name}`);
      if (row) {
        await repo.update(row.id, {
          value: w.value,
          epoch: w.epoch,
          ttl: w.ttl,
          zone: w.zone,
          scenarioId: w.scenarioId,
        });
      } else {
        await repo.insert({ ...w });
      }
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

  /** Ask the server until every record answers its desired value; re-apply once per round if not. */
  async verify(writes: DnsRecordWrite[], timeoutMs: number): Promise<{ rounds: number; ms: number }> {
    const started = Date.now();
    let rounds = 0;
    for (;;) {
      rounds++;
      const pending: DnsRecordWrite[] = [];
      for (const w of writes) {
        const values = await this.provider.query(w).catch(() => [] as string[]);
        if (!values.map((v) => normalizeValue(w.type, v)).includes(normalizeValue(w.type, w.value)))
          pending.push(w);
      }
      if (pending.length === 0) return { rounds, ms: Date.now() - started };
      if (Date.now() - started > timeoutMs) {
        throw new TransientError(
          `DNS does not answer the new value yet for ${pending.map((p) => p.name).join(', ')}`,
        );
      }
      if (rounds % 5 === 1) await this.apply(pending);
      await new Promise((r) => setTimeout(r, 20));
    }
  }
}
