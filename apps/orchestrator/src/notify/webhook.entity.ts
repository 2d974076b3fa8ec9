import {
  Column,
  CreateDateColumn,
  Entity,
  Index,
  JoinColumn,
  ManyToOne,
  PrimaryGeneratedColumn,
  UpdateDateColumn,
} from 'typeorm';

/**
 * Where the NOC wants our events: a URL, which kinds (none: all), optionally one scenario or one
 * group, and the secret the deliveries are signed with (write-only through the API).
 */
@Entity({ name: 'webhook_subscriptions' })
export class WebhookSubscriptionEntity {
  @PrimaryGeneratedColumn('uuid')
  id: string;

  @Column({ type: 'varchar', length: 64, unique: true })
  name: string;

  @Column({ type: 'varchar', length: 2048 })
  url: string;

  /** event kinds delivered; empty: every kind */
  @Column({ type: 'text', array: true, default: () => "'{}'" })
  kinds: string[];

  @Column({ type: 'uuid', nullable: true })
  scenarioId: string | null;

  @Column({ type: 'uuid', nullable: true })
  groupId: string | null;

  /** HMAC-SHA256 key of X-HA-Signature; null: deliveries unsigned */
  @Column({ type: 'varchar', length: 256, nullable: true })
  secret: string | null;

  @Column({ type: 'boolean', default: true })
  enabled: boolean;

  /** attempts before a delivery is dead (exponential backoff from 1 s between them) */
  @Column({ type: 'int', default: 12 })
  maxAttempts: number;

  /** how long one attempt waits for the receiver's answer */
  @Column({ type: 'int', default: 5000 })
  timeoutMs: number;

  /** env: made from WEBHOOK_URLS at start (kept in step with it); api: made through the API */
  @Column({ type: 'varchar', length: 8, default: 'api' })
  source: 'env' | 'api';

  @Column({ type: 'varchar', length: 128 })
  createdBy: string;

  @CreateDateColumn({ type: 'timestamptz' })
  createdAt: Date;

  @UpdateDateColumn({ type: 'timestamptz' })
  updatedAt: Date;
}

export const DELIVERY_STATES = ['pending', 'retrying', 'succeeded', 'dead', 'skipped'] as const;
export type DeliveryState = (typeof DELIVERY_STATES)[number];

/** One event sent (or being sent) to one subscription: the delivery log and the dead letters. */
@Entity({ name: 'webhook_deliveries' })
@Index('IDX_webhook_deliveries_sub_created', ['subscriptionId', 'createdAt'])
export class WebhookDeliveryEntity {
  @PrimaryGeneratedColumn('uuid')
  id: string;

  /** the queue job: one per (event, subscription), or per redelivery */
  @Column({ type: 'varchar', length: 400, unique: true })
  jobId: string;

  @Column({ type: 'uuid' })
  subscriptionId: string;

  @ManyToOne(() => WebhookSubscriptionEntity, { onDelete: 'CASCADE' })
  @JoinColumn({ name: 'subscriptionId', foreignKeyConstraintName: 'FK_webhook_deliveries_subscription' })
  subscription?: WebhookSubscriptionEntity;

  /** the event's id (the X-HA-Event-Id a receiver dedupes on) */
  @Column({ type: 'varchar', length: 300 })
  eventId: string;

  @Column({ type: 'varchar', length: 64 })
  kind: string;

  @Column({ type: 'varchar', length: 16 })
  state: DeliveryState;

  @Column({ type: 'int', default: 0 })
  attempts: number;

  @Column({ type: 'int', nullable: true })
  responseStatus: number | null;

  @Column({ type: 'varchar', length: 1024, nullable: true })
  error: string | null;

  /** of the last attempt */
  @Column({ type: 'int', nullable: true })
  latencyMs: number | null;

  /** the delivery this one resends */
  @Column({ type: 'uuid', nullable: true })
  redeliveryOf: string | null;

  /** what was sent: kept for redelivery after the queue has forgotten the job */
  @Column({ type: 'jsonb' })
  body: Record<string, unknown>;

  @CreateDateColumn({ type: 'timestamptz' })
  createdAt: Date;

  @UpdateDateColumn({ type: 'timestamptz' })
  updatedAt: Date;

  @Column({ type: 'timestamptz', nullable: true })
  deliveredAt: Date | null;
}
