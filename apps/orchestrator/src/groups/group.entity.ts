import {
  Column,
  CreateDateColumn,
  Entity,
  JoinColumn,
  ManyToOne,
  PrimaryColumn,
  PrimaryGeneratedColumn,
  UpdateDateColumn,
} from 'typeorm';
import { ScenarioEntity } from '../scenarios/scenario.entity';

@Entity({ name: 'groups' })
export class GroupEntity {
  @PrimaryGeneratedColumn('uuid')
  id: string;

  @Column({ type: 'varchar', length: 64, unique: true })
  name: string;

  @Column({ type: 'varchar', length: 512, default: '' })
  description: string;

  /** Switch every member over when any member fails. */
  @Column({ type: 'boolean', default: false })
  switchAllIfAnyFails: boolean;

  /**
   * With switchAllIfAnyFails: whether members in manual failover mode are switched too (true, the
   * default: the group moves together) or left where they are with a `manual-mode` decision.
   */
  @Column({ type: 'boolean', default: true })
  switchManualMembers: boolean;

  /** When the current split (members active on both sides) was announced; null while consistent. */
  @Column({ type: 'timestamptz', nullable: true })
  splitAnnouncedAt: Date | null;

  @CreateDateColumn({ type: 'timestamptz' })
  createdAt: Date;

  @UpdateDateColumn({ type: 'timestamptz' })
  updatedAt: Date;
}

@Entity({ name: 'group_members' })
export class GroupMemberEntity {
  @PrimaryColumn({ type: 'uuid' })
  groupId: string;

  @PrimaryColumn({ type: 'uuid' })
  scenarioId: string;

  @ManyToOne(() => GroupEntity, { onDelete: 'CASCADE' })
  @JoinColumn({ name: 'groupId' })
  group?: GroupEntity;

  @ManyToOne(() => ScenarioEntity, { onDelete: 'CASCADE' })
  @JoinColumn({ name: 'scenarioId' })
  scenario?: ScenarioEntity;
}
