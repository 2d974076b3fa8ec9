import { MigrationInterface, QueryRunner } from 'typeorm';

/** Assured Recovery: per-scenario test schedule (cron) and default snapshot choice. */
export class AssuredRecoverySchedule1795700000000 implements MigrationInterface {
  name = 'AssuredRecoverySchedule1795700000000';

  public async up(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`ALTER TABLE "scenarios" ADD "arSchedule" character varying(128)`);
    await queryRunner.query(`ALTER TABLE "scenarios" ADD "arSnapshot" boolean NOT NULL DEFAULT false`);
  }

  public async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`ALTER TABLE "scenarios" DROP COLUMN "arSnapshot"`);
    await queryRunner.query(`ALTER TABLE "scenarios" DROP COLUMN "arSchedule"`);
  }
}
