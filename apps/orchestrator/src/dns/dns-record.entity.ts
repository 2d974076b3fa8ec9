import { Column, Entity, PrimaryGeneratedColumn, Unique, UpdateDateColumn } from 'typeorm';
import { DnsRecordType, DnsRecordWrite } from './dns-provider.interface';

/** The value each scenario record should have, with the epoch that last wrote it. */
@Entity({ name: 'dns_records' })
@Unique(['name', 'type'])
export class DnsRecordEntity {
  @PrimaryGeneratedColumn('uuid')
  id: string;

  @Column({ type: 'uuid' })
  scenarioId: string;

  @Column({ type: 'varchar', length: 253 })
  zone: string;

  @Column({ type: 'varchar', length: 253 })
  name: string;

  @Column({ type: 'varchar', length: 8 })
  type: DnsRecordType;

  @Column({ type: 'int' })
  ttl: number;

  @Column({ type: 'varchar', length: 253 })
  value: string;

  @Column({ type: 'int' })
  epoch: number;

  @UpdateDateColumn({ type: 'timestamptz' })
  updatedAt: Date;
}

export function toRecordWrite(r: DnsRecordEntity): DnsRecordWrite {
  return {
    zone: r.zone,
    name: r.name,
    type: r.type,
    ttl: r.ttl,
    value: r.value,
    epoch: r.epoch,
    scenarioId: r.scenarioId,
  };
}
