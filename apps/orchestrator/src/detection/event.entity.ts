import { Column, CreateDateColumn, Entity, Index, PrimaryGeneratedColumn } from 'typeorm';

/** Verdict changes, alerts and failover requests: what the detector saw and decided. */
@Entity({ name: 'events' })
@Index(['nodeId', 'at'])
@Index(['scenarioId', 'at'])
export class EventEntity {
  @PrimaryGeneratedColumn('increment', { type: 'bigint' })
  id: string;

  @CreateDateColumn({ type: 'timestamptz' })
  at: Date;

  /** verdict-changed, alert, failover-requested, failover-suppressed, storm-brake */
  @Column({ type: 'varchar', length: 32 })
  kind: string;

  @Column({ type: 'varchar', length: 16, default: 'info' })
  severity: 'info' | 'warning' | 'critical';

  @Column({ type: 'uuid', nullable: true })
  nodeId: string | null;

  @Column({ type: 'uuid', nullable: true })
  scenarioId: string | null;

  @Column({ type: 'varchar', length: 1024 })
  message: string;

  @Column({ type: 'jsonb', default: () => "'{}'" })
  details: Record<string, unknown>;
}
