import { Column, CreateDateColumn, Entity, Index, PrimaryGeneratedColumn } from 'typeorm';

export const OPERATION_TYPES = [
  'failover',
  'switchover',
  'failback',
  'start',
  'stop',
  'ar-test',
  'group-failover',
  'active-server-recovery',
] as const;
export type OperationType = (typeof OPERATION_TYPES)[number];

export const OPERATION_STATES = ['pending', 'running', 'succeeded', 'failed'] as const;
export type OperationState = (typeof OPERATION_STATES)[number];

export const STEP_STATES = ['pending', 'running', 'done', 'failed', 'skipped'] as const;
export type StepState = (typeof STEP_STATES)[number];

@Entity({ name: 'operations' })
@Index('operations_one_active_per_scenario', ['scenarioId'], {
  unique: true,
  where: `"state" IN ('pending','running')`,
})
@Index('IDX_operations_batch_active', ['batchId'], {
  where: `"batchId" IS NOT NULL AND state IN ('pending', 'running')`,
})
export class OperationEntity {
  @PrimaryGeneratedColumn('uuid')
  id: string;

  /**
   * Operations requested together share a batch: their steps run as one job per step (a host with
   * many scenarios died, a bulk start). An operation whose step must be retried leaves the batch
   * (null) and goes on alone with its own step jobs.
   */
  @Column({ type: 'uuid', nullable: true })
  batchId: string | null;

  @Column({ type: 'uuid', nullable: true })
  scenarioId: string | null;

  @Column({ type: 'uuid', nullable: true })
  groupId: string | null;

  @Column({ type: 'varchar', length: 32 })
  type: OperationType;

  @Column({ type: 'varchar', length: 16, default: 'pending' })
  state: OperationState;

  /** auto (detector) or manual (API). */
  @Column({ type: 'varchar', length: 16 })
  trigger: 'auto' | 'manual';

  @Column({ type: 'varchar', length: 128 })
  requestedBy: string;

  @Column({ type: 'varchar', length: 1024, default: '' })
  reason: string;

  @Column({ type: 'jsonb', default: () => "'{}'" })
  params: Record<string, unknown>;

  /** Epoch the operation fences with (set by its first step). */
  @Column({ type: 'int', nullable: true })
  epoch: number | null;

  @Column({ type: 'varchar', length: 2048, nullable: true })
  error: string | null;

  @CreateDateColumn({ type: 'timestamptz' })
  createdAt: Date;

  @Column({ type: 'timestamptz', nullable: true })
  startedAt: Date | null;

  @Column({ type: 'timestamptz', nullable: true })
  finishedAt: Date | null;
}

@Entity({ name: 'operation_steps' })
@Index(['operationId', 'position'], { unique: true })
export class OperationStepEntity {
  @PrimaryGeneratedColumn('uuid')
  id: string;

  @Column({ type: 'uuid' })
  operationId: string;

  @Column({ type: 'int' })
  position: number;

  @Column({ type: 'varchar', length: 64 })
  name: string;

  @Column({ type: 'varchar', length: 16, default: 'pending' })
  state: StepState;

  @Column({ type: 'int', default: 0 })
  attempts: number;

  @Column({ type: 'jsonb', nullable: true })
  output: Record<string, unknown> | null;

  @Column({ type: 'varchar', length: 2048, nullable: true })
  error: string | null;

  @Column({ type: 'timestamptz', nullable: true })
  startedAt: Date | null;

  @Column({ type: 'timestamptz', nullable: true })
  finishedAt: Date | null;
}
