import {
  Column,
  CreateDateColumn,
  Entity,
  Index,
  JoinColumn,
  ManyToOne,
  PrimaryColumn,
  PrimaryGeneratedColumn,
} from 'typeorm';
import { ScenarioEntity } from '../scenarios/scenario.entity';
import type { DecisionOutcome, DecisionRule } from '../detection/decision';

/**
 * One automatic decision about a scenario, or one decision not to act, written once per change of
 * the situation (the dedupKey: scenario, epoch, active node, rule, incident start, and the operation
 * for a failover) with the evidence it was taken on and the thresholds applied.
 */
@Entity({ name: 'decisions' })
@Index('IDX_decisions_scenario_created', ['scenarioId', 'createdAt'])
@Index('IDX_decisions_operation', ['operationId'])
export class DecisionEntity {
  /** chosen by the detector, so the operation it requests can name it */
  @PrimaryColumn('uuid')
  id: string;

  @Column({ type: 'uuid' })
  scenarioId: string;

  /** deleting a scenario deletes its decisions */
  @ManyToOne(() => ScenarioEntity, { onDelete: 'CASCADE' })
  @JoinColumn({ name: 'scenarioId', foreignKeyConstraintName: 'FK_decisions_scenario' })
  scenario?: ScenarioEntity;

  /** the active node the decision is about */
  @Column({ type: 'uuid', nullable: true })
  nodeId: string | null;

  @Column({ type: 'int' })
  epoch: number;

  @Column({ type: 'varchar', length: 16 })
  outcome: DecisionOutcome;

  @Column({ type: 'varchar', length: 32 })
  rule: DecisionRule;

  @Column({ type: 'varchar', length: 2048 })
  message: string;

  /** the node's verdict, its checks, each observer's latest view */
  @Column({ type: 'jsonb', default: () => "'{}'" })
  evidence: Record<string, unknown>;

  /** what the rules compared against: TTLs, failure thresholds, peer quorum, hold, storm brake */
  @Column({ type: 'jsonb', default: () => "'{}'" })
  thresholds: Record<string, unknown>;

  @Column({ type: 'uuid', nullable: true })
  operationId: string | null;

  @Column({ type: 'varchar', length: 400, unique: true })
  dedupKey: string;

  /** the orchestrator instance that decided */
  @Column({ type: 'varchar', length: 64 })
  decidedBy: string;

  @CreateDateColumn({ type: 'timestamptz' })
  createdAt: Date;
}

export const NOTE_TARGETS = ['decision', 'operation'] as const;
export type NoteTarget = (typeof NOTE_TARGETS)[number];

/** An operator's note on a decision or an operation, added afterwards (post-incident review). */
@Entity({ name: 'notes' })
@Index('IDX_notes_target', ['targetType', 'targetId', 'createdAt'])
export class NoteEntity {
  @PrimaryGeneratedColumn('uuid')
  id: string;

  @Column({ type: 'varchar', length: 16 })
  targetType: NoteTarget;

  @Column({ type: 'uuid' })
  targetId: string;

  @Column({ type: 'varchar', length: 128 })
  author: string;

  @Column({ type: 'varchar', length: 4000 })
  text: string;

  @CreateDateColumn({ type: 'timestamptz' })
  createdAt: Date;
}
