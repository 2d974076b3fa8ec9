import { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Operations requested together (a host carrying many scenarios died, a bulk start) share a
 * batch: one step job per batch and step runs that step for all of them (OperationsQueue).
 */
export class OperationBatches1795800000000 implements MigrationInterface {
  name = 'OperationBatches1795800000000';

  public async up(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`ALTER TABLE "operations" ADD "batchId" uuid`);
    await queryRunner.query(
      `CREATE INDEX "IDX_operations_batch_active" ON "operations" ("batchId") WHERE "batchId" IS NOT NULL AND state IN ('pending', 'running')`,
    );
  }

  public async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`DROP INDEX "IDX_operations_batch_active"`);
    await queryRunner.query(`ALTER TABLE "operations" DROP COLUMN "batchId"`);
  }
}
