import { Column, Entity, PrimaryColumn, UpdateDateColumn } from 'typeorm';

/** Cluster-wide switches, e.g. the storm brake. */
@Entity({ name: 'settings' })
export class SettingEntity {
  @PrimaryColumn({ type: 'varchar', length: 64 })
  key: string;

  @Column({ type: 'jsonb' })
  value: Record<string, unknown>;

  @UpdateDateColumn({ type: 'timestamptz' })
  updatedAt: Date;
}
