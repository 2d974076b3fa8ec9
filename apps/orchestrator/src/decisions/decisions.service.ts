/**
 * Decision records and operator notes: read by the API, written by the detector (through its event
 * queue, so a slow PostgreSQL never delays a verdict) and by operators (notes).
 */
import { Injectable } from '@nestjs/common';
import { InjectRepository } from '@nestjs/typeorm';
import { DataSource, In, Repository } from 'typeorm';
import { AuditService } from '../audit/audit.service';
import { Page } from '../common/dtos/pagination.dto';
import { NotFoundError } from '../common/errors';
import { OperationEntity } from '../operations/operation.entity';
import { ScenarioEntity } from '../scenarios/scenario.entity';
import { DecisionEntity, NoteEntity, NoteTarget } from './decision.entity';
import { DecisionView, ListDecisionsQuery, NoteView } from './dtos/decision.dto';

@Injectable()
export class DecisionsService {
  constructor(
    private readonly dataSource: DataSource,
    @InjectRepository(DecisionEntity) private readonly decisions: Repository<DecisionEntity>,
    @InjectRepository(NoteEntity) private readonly notes: Repository<NoteEntity>,
    private readonly audit: AuditService,
  ) {}

  async list(scenarioId: string, q: ListDecisionsQuery): Promise<Page<DecisionView>> {
    if (!(await this.dataSource.getRepository(ScenarioEntity).exist({ where: { id: scenarioId } })))
      throw new NotFoundError('scenario', scenarioId);
    const qb = this.decisions
      .createQueryBuilder('d')
      .where('d.scenarioId = :scenarioId', { scenarioId })
      .orderBy('d.createdAt', 'DESC')
      .addOrderBy('d.id')
      .take(q.limit)
      .skip(q.offset);
    if (q.since) qb.andWhere('d.createdAt >= :since', { since: new Date(q.since) });
    if (q.until) qb.andWhere('d.createdAt < :until', { until: new Date(q.until) });
    if (q.outcome) qb.andWhere('d.outcome = :outcome', { outcome: q.outcome });
    if (q.rule) qb.andWhere('d.rule = :rule', { rule: q.rule });
    const [rows, total] = await qb.getManyAndCount();
    const notes = await this.notesOf(
      'decision',
      rows.map((d) => d.id),
    );
    return {
      items: rows.map((d) => toDecisionView(d, notes.get(d.id) ?? [])),
      total,
      limit: q.limit,
      offset: q.offset,
    };
  }

  async get(id: string): Promise<DecisionView> {
    const d = await this.decisions.findOne({ where: { id } });
    if (!d) throw new NotFoundError('decision', id);
    return toDecisionView(d, (await this.notesOf('decision', [id])).get(id) ?? []);
  }

  /** The decision that requested an operation (null for an operator's operation). */
  async ofOperation(operationId: string): Promise<string | null> {
    const d = await this.decisions.findOne({ where: { operationId }, select: { id: true } });
    return d?.id ?? null;
  }

  async notesOf(targetType: NoteTarget, ids: string[]): Promise<Map<string, NoteView[]>> {
    const out = new Map<string, NoteView[]>();
    if (ids.length === 0) return out;
    const rows = await this.notes.find({
      where: { targetType, targetId: In(ids) },
      order: { createdAt: 'ASC' },
    });
    for (const n of rows) {
      const list = out.get(n.targetId) ?? [];
      list.push({ id: n.id, author: n.author, text: n.text, createdAt: n.createdAt });
      out.set(n.targetId, list);
    }
    return out;
  }

  /** An operator's note on a decision or an operation; audited like every change. */
  async addNote(targetType: NoteTarget, targetId: string, text: string, author: string): Promise<NoteView> {
    return this.dataSource.transaction(async (m) => {
      const entity = targetType === 'decision' ? DecisionEntity : OperationEntity;
      if (!(await m.getRepository(entity).exist({ where: { id: targetId } })))
        throw new NotFoundError(targetType, targetId);
      const note = await m
        .getRepository(NoteEntity)
        .save(m.getRepository(NoteEntity).create({ targetType, targetId, author, text }));
      await this.audit.record(
        {
          actor: author,
          action: `${targetType}.note-added`,
          targetType,
          targetId,
          details: { noteId: note.id, text },
        },
        m,
      );
      return { id: note.id, author: note.author, text: note.text, createdAt: note.createdAt };
    });
  }
}

export function toDecisionView(d: DecisionEntity, notes: NoteView[]): DecisionView {
  return {
    id: d.id,
    scenarioId: d.scenarioId,
    nodeId: d.nodeId,
    epoch: d.epoch,
    outcome: d.outcome,
    rule: d.rule,
    message: d.message,
    evidence: d.evidence,
    thresholds: d.thresholds,
    operationId: d.operationId,
    decidedBy: d.decidedBy,
    createdAt: d.createdAt,
    notes,
  };
}
