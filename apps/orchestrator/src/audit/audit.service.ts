import { Injectable } from '@nestjs/common';
import { InjectRepository } from '@nestjs/typeorm';
import { EntityManager, Repository } from 'typeorm';
import { logContext } from '../common/logger';
import { AuditEntryEntity } from './audit-entry.entity';

export interface AuditInput {
  actor: string;
  action: string;
  targetType: string;
  targetId?: string | null;
  reason?: string | null;
  details?: Record<string, unknown>;
}

/** Every mutation writes one entry: who, what, when, why. Pass the transaction's manager when there is one. */
@Injectable()
export class AuditService {
  constructor(@InjectRepository(AuditEntryEntity) private readonly repo: Repository<AuditEntryEntity>) {}

  async record(input: AuditInput, manager?: EntityManager): Promise<void> {
    const repo = manager ? manager.getRepository(AuditEntryEntity) : this.repo;
    await repo.insert({
      actor: input.actor,
      action: input.action,
      targetType: input.targetType,
      targetId: input.targetId ?? null,
      reason: input.reason ?? null,
      details: (input.details ?? {}) as never,
      requestId: logContext.getStore()?.requestId ?? null,
    });
  }

  /** Many entries in one INSERT (bulk operations), in the order given. */
  async recordMany(inputs: AuditInput[], manager?: EntityManager): Promise<void> {
    if (inputs.length === 0) return;
    const repo = manager ? manager.getRepository(AuditEntryEntity) : this.repo;
    const requestId = logContext.getStore()?.requestId ?? null;
    await repo.insert(
      inputs.map((input) => ({
        actor: input.actor,
        action: input.action,
        targetType: input.targetType,
        targetId: input.targetId ?? null,
        reason: input.reason ?? null,
        details: (input.details ?? {}) as never,
        requestId,
      })),
    );
  }

  /** Newest first (by id: entries of one transaction share `at`). */
  async list(filter: {
    targetType?: string;
    targetId?: string;
    actor?: string;
    action?: string;
    limit: number;
    offset: number;
  }) {
    const qb = this.repo
      .createQueryBuilder('a')
      .orderBy('a.id', 'DESC')
      .take(filter.limit)
      .skip(filter.offset);
    if (filter.targetType) qb.andWhere('a.targetType = :t', { t: filter.targetType });
    if (filter.targetId) qb.andWhere('a.targetId = :i', { i: filter.targetId });
    if (filter.actor) qb.andWhere('a.actor = :actor', { actor: filter.actor });
    if (filter.action) qb.andWhere('a.action = :action', { action: filter.action });
    const [items, total] = await qb.getManyAndCount();
    return { items, total };
  }
}
