import { Column, CreateDateColumn, Entity, PrimaryGeneratedColumn, UpdateDateColumn } from 'typeorm';

@Entity({ name: 'nodes' })
export class NodeEntity {
  @PrimaryGeneratedColumn('uuid')
  id: string;

  @Column({ type: 'varchar', length: 64, unique: true })
  name: string;

  /** The address users reach (written into DNS when this node becomes active). */
  @Column({ type: 'varchar', length: 255 })
  address: string;

  /** Base URL of the node's agent API, e.g. http://127.0.0.21:7400 */
  @Column({ type: 'varchar', length: 255 })
  agentUrl: string;

  @Column({ type: 'jsonb', default: () => "'{}'" })
  labels: Record<string, string>;

  /** sha256 of the token the agent presents on heartbeats. */
  @Column({ type: 'varchar', length: 64, select: false })
  agentTokenHash: string;

  /** Token the orchestrator presents to the agent's action API. Never returned after creation. */
  @Column({ type: 'varchar', length: 128, select: false })
  actionToken: string;

  @CreateDateColumn({ type: 'timestamptz' })
  createdAt: Date;

  @UpdateDateColumn({ type: 'timestamptz' })
  updatedAt: Date;
}
