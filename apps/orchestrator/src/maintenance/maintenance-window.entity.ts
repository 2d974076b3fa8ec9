import { Column, CreateDateColumn, Entity, Index, PrimaryGeneratedColumn } from 'typeorm';

export const MAINTENANCE_SCOPES = ['node', 'scenario', 'group'] as const;
export type MaintenanceScope = (typeof MAINTENANCE_SCOPES)[number];

/**
 * A planned maintenance window: automatic failover of its scope is suppressed from startsAt to
 * endsAt (always set: a window expires on its own), and a node in one is never a promotion target.
 * Start and end are announced once (audit, event, webhook) by whichever instance claims them.
 */
@Entity({ name: 'maintenance_windows' })
@Index('IDX_maintenance_windows_ends', ['endsAt'])
export class MaintenanceWindowEntity {
  @PrimaryGeneratedColumn('uuid')
  id: string;

  @Column({ type: 'varchar', length: 16 })
  scopeType: MaintenanceScope;

  @Column({ type: 'uuid' })
  scopeId: string;

  @Column({ type: 'varchar', length: 1024 })
  reason: string;

  @Column({ type: 'timestamptz' })
  startsAt: Date;

  @Column({ type: 'timestamptz' })
  endsAt: Date;

  @Column({ type: 'varchar', length: 128 })
  createdBy: string;

  @CreateDateColumn({ type: 'timestamptz' })
  createdAt: Date;

  /** set when an operator ended it before its planned end */
  @Column({ type: 'timestamptz', nullable: true })
  endedEarlyAt: Date | null;

  @Column({ type: 'varchar', length: 128, nullable: true })
  endedBy: string | null;

  @Column({ type: 'timestamptz', nullable: true })
  startAnnouncedAt: Date | null;

  @Column({ type: 'timestamptz', nullable: true })
  endAnnouncedAt: Date | null;
}
