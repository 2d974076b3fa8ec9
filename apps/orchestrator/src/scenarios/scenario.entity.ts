import {
  Column,
  CreateDateColumn,
  Entity,
  JoinColumn,
  ManyToOne,
  OneToMany,
  PrimaryGeneratedColumn,
  UpdateDateColumn,
} from 'typeorm';
import { NodeEntity } from '../nodes/node.entity';
import {
  FailoverMode,
  FailoverPolicy,
  ScenarioCheck,
  ScenarioDnsRecord,
  ScenarioState,
} from './scenario.types';
import { ScenarioReplicaEntity } from './scenario-replica.entity';

@Entity({ name: 'scenarios' })
export class ScenarioEntity {
  @PrimaryGeneratedColumn('uuid')
  id: string;

  @Column({ type: 'varchar', length: 64, unique: true })
  name: string;

  @Column({ type: 'uuid' })
  productionNodeId: string;

  @ManyToOne(() => NodeEntity, { onDelete: 'RESTRICT' })
  @JoinColumn({ name: 'productionNodeId' })
  productionNode?: NodeEntity;

  /** The node users are sent to now (production, or a replica after a failover). */
  @Column({ type: 'uuid' })
  activeNodeId: string;

  @ManyToOne(() => NodeEntity, { onDelete: 'RESTRICT' })
  @JoinColumn({ name: 'activeNodeId' })
  activeNode?: NodeEntity;

  @OneToMany(() => ScenarioReplicaEntity, (r) => r.scenario, { cascade: true })
  replicas?: ScenarioReplicaEntity[];

  @Column({ type: 'jsonb', default: () => "'[]'" })
  dnsRecords: ScenarioDnsRecord[];

  @Column({ type: 'varchar', length: 16, default: 'manual' })
  failoverMode: FailoverMode;

  @Column({ type: 'jsonb', default: () => "'[]'" })
  checks: ScenarioCheck[];

  @Column({ type: 'jsonb' })
  policy: FailoverPolicy;

  @Column({ type: 'varchar', length: 32, default: 'stopped' })
  state: ScenarioState;

  /** Fencing number: every promotion increments it; agents and DNS writes refuse older ones. */
  @Column({ type: 'int', default: 1 })
  epoch: number;

  /** Shared secret of this scenario's agents for peer heartbeats. */
  @Column({ type: 'varchar', length: 64, select: false })
  peerToken: string;

  /** No automatic failover before this time (anti-flap hold after a failover). */
  @Column({ type: 'timestamptz', nullable: true })
  holdUntil: Date | null;

  /** Assured Recovery schedule: a cron expression (seconds field optional), null = no scheduled test. */
  @Column({ type: 'varchar', length: 128, nullable: true })
  arSchedule: string | null;

  /** Whether AR tests take a snapshot of the replica copy (ar-snapshot) unless the request says otherwise. */
  @Column({ type: 'boolean', default: false })
  arSnapshot: boolean;

  @CreateDateColumn({ type: 'timestamptz' })
  createdAt: Date;

  @UpdateDateColumn({ type: 'timestamptz' })
  updatedAt: Date;
}
