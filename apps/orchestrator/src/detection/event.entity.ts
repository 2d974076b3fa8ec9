import { Column, CreateDateColumn, Entity, Index, PrimaryGeneratedColumn } from 'typeorm';

/** Every kind of event the detector and the operations write (the events API filters on these). */
export const EVENT_KINDS = [
  'verdict-changed',
  'alert',
  'failover-requested',
  'failover-suppressed',
  'failover-blocked',
  /** the orchestrator lost an active node its peers still see (no quorum): nothing done */
  'failover-withheld',
  /** automatic failback (policy.failback): requested, or held back in its window (hold-down, maintenance, not resynced) */
  'failback-requested',
  'failback-withheld',
  'storm-brake',
  'operation-succeeded',
  'operation-failed',
  /** an operation found no replica the promotion policy allows (each candidate's reasons in details) */
  'no-eligible-replica',
  'failover-delayed',
  'split-state',
  'ar-test-result',
  'ar-test-skipped',
  'ar-test-aborted',
  'ar-test-step-failed',
  'maintenance-started',
  'maintenance-ended',
  'clients-not-moved',
  /** an alert from Alertmanager or the generic receiver started firing, was resolved, or expired unrenewed */
  'external-alert-firing',
  'external-alert-resolved',
  'external-alert-expired',
  /** a group's members became active on both sides for longer than the grace (one event per split), or consistent again */
  'group-split',
  'group-consistent',
  /** a group AR run ended: counts by result (critical when a member's test failed) */
  'ar-group-result',
] as const;

/** Verdict changes, alerts and failover requests: what the detector saw and decided. */
@Entity({ name: 'events' })
@Index(['nodeId', 'at'])
@Index(['scenarioId', 'at'])
@Index(['xid', 'id'])
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

  /**
   * The id of the transaction that wrote the row, set by PostgreSQL: the live stream reads in
   * (xid, id) order behind the oldest running transaction, so it never skips a late commit
   * (see events/event-stream.service.ts). Never written by us.
   */
  @Column({
    type: 'bigint',
    default: () => 'txid_current()',
    select: false,
    insert: false,
    update: false,
  })
  xid: string;
}
