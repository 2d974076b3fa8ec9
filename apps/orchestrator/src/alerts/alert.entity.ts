import { Column, Entity, Index, PrimaryGeneratedColumn } from 'typeorm';

export const ALERT_STATES = ['firing', 'resolved', 'expired'] as const;
export type AlertState = (typeof ALERT_STATES)[number];

/**
 * An alert from an external system (Prometheus Alertmanager, or anything speaking the generic
 * format): one row per (source, observer, fingerprint), the latest state of that alert: a sender
 * can neither resolve nor take over another sender's alert. A firing alert mapped
 * to a node is one observer's vote against that node in detection (alerts.service.ts).
 */
@Entity({ name: 'external_alerts' })
@Index('IDX_external_alerts_identity', ['source', 'observer', 'fingerprint'], { unique: true })
@Index('IDX_external_alerts_firing', ['expiresAt'], { where: `"state" = 'firing'` })
@Index('IDX_external_alerts_received', ['lastReceivedAt'])
export class ExternalAlertEntity {
  @PrimaryGeneratedColumn('uuid')
  id: string;

  /** alertmanager | generic */
  @Column({ type: 'varchar', length: 16 })
  source: string;

  /** the token that sent it: the observer whose vote it is */
  @Column({ type: 'varchar', length: 128 })
  observer: string;

  @Column({ type: 'varchar', length: 128 })
  fingerprint: string;

  @Column({ type: 'varchar', length: 256 })
  name: string;

  @Column({ type: 'varchar', length: 16 })
  state: AlertState;

  @Column({ type: 'varchar', length: 64, nullable: true })
  severity: string | null;

  @Column({ type: 'varchar', length: 1024, nullable: true })
  summary: string | null;

  @Column({ type: 'uuid', nullable: true })
  nodeId: string | null;

  @Column({ type: 'uuid', nullable: true })
  scenarioId: string | null;

  /** how the alert was mapped to its node, or why it was not */
  @Column({ type: 'varchar', length: 512 })
  mapping: string;

  @Column({ type: 'jsonb', default: () => "'{}'" })
  labels: Record<string, string>;

  @Column({ type: 'jsonb', default: () => "'{}'" })
  annotations: Record<string, string>;

  /** when it started firing (the sender's time if it gave one) */
  @Column({ type: 'timestamptz' })
  startsAt: Date;

  @Column({ type: 'timestamptz', nullable: true })
  endsAt: Date | null;

  /** a firing alert not sent again by then expires (ALERTS_FIRING_TTL_S after its last receipt) */
  @Column({ type: 'timestamptz' })
  expiresAt: Date;

  @Column({ type: 'timestamptz' })
  firstReceivedAt: Date;

  @Column({ type: 'timestamptz' })
  lastReceivedAt: Date;

  @Column({ type: 'integer', default: 1 })
  receivedCount: number;
}
