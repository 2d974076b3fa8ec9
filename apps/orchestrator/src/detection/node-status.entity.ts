import { Column, Entity, PrimaryColumn } from 'typeorm';

/**
 * Last known heartbeat state per node, flushed from memory at a bounded rate (HEARTBEAT_FLUSH_MS),
 * never one write per heartbeat.
 */
@Entity({ name: 'node_status' })
export class NodeStatusEntity {
  @PrimaryColumn({ type: 'uuid' })
  nodeId: string;

  @Column({ type: 'timestamptz', nullable: true })
  lastSeenAt: Date | null;

  @Column({ type: 'bigint', default: 0 })
  lastSeq: string;

  @Column({ type: 'varchar', length: 64, nullable: true })
  bootId: string | null;

  @Column({ type: 'jsonb', default: () => "'{}'" })
  report: Record<string, unknown>;

  @Column({ type: 'varchar', length: 16, default: 'unknown' })
  verdict: string;

  @Column({ type: 'jsonb', default: () => "'{}'" })
  evidence: Record<string, unknown>;

  @Column({ type: 'timestamptz' })
  updatedAt: Date;
}
