import { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * When a group's current split was announced (groups/group-split.service.ts; null = consistent),
 * and whether switch-all moves the group's manual-mode members too (an explicit group option).
 */
export class GroupSplit1796400000000 implements MigrationInterface {
  name = 'GroupSplit1796400000000';

  public async up(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`ALTER TABLE "groups" ADD "splitAnnouncedAt" TIMESTAMP WITH TIME ZONE`);
    await queryRunner.query(`ALTER TABLE "groups" ADD "switchManualMembers" boolean NOT NULL DEFAULT true`);
  }

  public async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`ALTER TABLE "groups" DROP COLUMN "switchManualMembers"`);
    await queryRunner.query(`ALTER TABLE "groups" DROP COLUMN "splitAnnouncedAt"`);
  }
}
