import { MigrationInterface, QueryRunner } from 'typeorm';

/** When a group's current split was announced (groups/group-split.watcher.ts); null = consistent. */
export class GroupSplit1796400000000 implements MigrationInterface {
  name = 'GroupSplit1796400000000';

  public async up(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`ALTER TABLE "groups" ADD "splitAnnouncedAt" TIMESTAMP WITH TIME ZONE`);
  }

  public async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`ALTER TABLE "groups" DROP COLUMN "splitAnnouncedAt"`);
  }
}
