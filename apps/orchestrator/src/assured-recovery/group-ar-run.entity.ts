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
import { GroupEntity } from '../groups/group.entity';
import { ScenarioEntity } from '../scenarios/scenario.entity';

export const GROUP_AR_RUN_STATES = ['running', 'done'] as const;
export const GROUP_AR_MEMBER_STATES = ['pending', 'started', 'refused', 'finished'] as const;

/** One AR test of every member of a group, a few at a time (group-ar-runner.service.ts). */
@Entity({ name: 'group_ar_runs' })
@Index('IDX_group_ar_runs_group', ['groupId', 'createdAt'])
@Index('IDX_group_ar_runs_one_running', ['groupId'], { unique: true, where: `"state" = 'running'` })
export class GroupArRunEntity {
  @PrimaryGeneratedColumn('uuid')
  id: string;

  @Column({ type: 'uuid' })
  groupId: string;

  @ManyToOne(() => GroupEntity, { onDelete: 'CASCADE' })
  @JoinColumn({ name: 'groupId', foreignKeyConstraintName: 'FK_group_ar_runs_group' })
  group?: GroupEntity;

  @Column({ type: 'varchar', length: 1024 })
  reason: string;

  @Column({ type: 'varchar', length: 256 })
  requestedBy: string;

  /** member tests running at once at most */
  @Column({ type: 'int' })
  maxParallel: number;

  /** null: each scenario's arSnapshot */
  @Column({ type: 'boolean', nullable: true })
  snapshot: boolean | null;

  @Column({ type: 'varchar', length: 16, default: 'running' })
  state: (typeof GROUP_AR_RUN_STATES)[number];

  /** counts by result once done: passed, failed, aborted, refused, error */
  @Column({ type: 'jsonb', nullable: true })
  summary: Record<string, number> | null;

  @CreateDateColumn({ type: 'timestamptz' })
  createdAt: Date;

  @Column({ type: 'timestamptz', nullable: true })
  finishedAt: Date | null;
}

@Entity({ name: 'group_ar_run_members' })
export class GroupArRunMemberEntity {
  @PrimaryColumn({ type: 'uuid' })
  runId: string;

  @PrimaryColumn({ type: 'uuid' })
  scenarioId: string;

  @ManyToOne(() => GroupArRunEntity, { onDelete: 'CASCADE' })
  @JoinColumn({ name: 'runId', foreignKeyConstraintName: 'FK_group_ar_run_members_run' })
  run?: GroupArRunEntity;

  @ManyToOne(() => ScenarioEntity, { onDelete: 'CASCADE' })
  @JoinColumn({ name: 'scenarioId', foreignKeyConstraintName: 'FK_group_ar_run_members_scenario' })
  scenario?: ScenarioEntity;

  /** order the members are tested in (the group's, by scenario name) */
  @Column({ type: 'int' })
  position: number;

  @Column({ type: 'varchar', length: 16, default: 'pending' })
  state: (typeof GROUP_AR_MEMBER_STATES)[number];

  @Column({ type: 'uuid', nullable: true })
  operationId: string | null;

  /** passed / failed / aborted, or null (refused, or the test broke before a verdict) */
  @Column({ type: 'varchar', length: 16, nullable: true })
  arResult: string | null;

  /** why it was refused, or how its operation failed */
  @Column({ type: 'varchar', length: 1024, nullable: true })
  error: string | null;

  @Column({ type: 'timestamptz', nullable: true })
  startedAt: Date | null;

  @Column({ type: 'timestamptz', nullable: true })
  finishedAt: Date | null;
}
