import { Column, CreateDateColumn, Entity, PrimaryGeneratedColumn } from 'typeorm';

/**
 * viewer < operator < admin; `alerter` stands apart: it may only post alerts (/api/v1/alerts…),
 * the token to give Alertmanager or another alerting system.
 */
export const API_ROLES = ['viewer', 'operator', 'admin', 'alerter'] as const;
export type ApiRole = (typeof API_ROLES)[number];

@Entity({ name: 'api_tokens' })
export class ApiTokenEntity {
  @PrimaryGeneratedColumn('uuid')
  id: string;

  @Column({ type: 'varchar', length: 64, unique: true })
  name: string;

  @Column({ type: 'varchar', length: 16 })
  role: ApiRole;

  /** sha256 hex of the token; the token itself is shown once at creation. */
  @Column({ type: 'varchar', length: 64, unique: true, select: false })
  tokenHash: string;

  @Column({ type: 'varchar', length: 128 })
  createdBy: string;

  @CreateDateColumn({ type: 'timestamptz' })
  createdAt: Date;

  @Column({ type: 'timestamptz', nullable: true })
  revokedAt: Date | null;
}
