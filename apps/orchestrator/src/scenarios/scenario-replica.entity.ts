import { Column, Entity, JoinColumn, ManyToOne, PrimaryColumn } from 'typeorm';
import { NodeEntity } from '../nodes/node.entity';
import { ScenarioEntity } from './scenario.entity';

/** Ordered replicas of a scenario (position 0 is the preferred failover target). */
@Entity({ name: 'scenario_replicas' })
export class ScenarioReplicaEntity {
  @PrimaryColumn({ type: 'uuid' })
  scenarioId: string;

  @PrimaryColumn({ type: 'uuid' })
  nodeId: string;

  @Column({ type: 'int' })
  position: number;

  @ManyToOne(() => ScenarioEntity, (s) => s.replicas, { onDelete: 'CASCADE' })
  @JoinColumn({ name: 'scenarioId' })
  scenario?: ScenarioEntity;

  @ManyToOne(() => NodeEntity, { onDelete: 'RESTRICT' })
  @JoinColumn({ name: 'nodeId' })
  node?: NodeEntity;
}
