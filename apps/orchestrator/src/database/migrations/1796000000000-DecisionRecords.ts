import { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Decision records (every automatic decision, and every decision not to act, with its evidence) and
 * operator notes on decisions and operations.
 */
export class DecisionRecords1796000000000 implements MigrationInterface {
  name = 'DecisionRecords1796000000000';

  public async up(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`CREATE TABLE "decisions" (
      "id" uuid NOT NULL,
      "scenarioId" uuid NOT NULL,
      "nodeId" uuid,
      "epoch" integer NOT NULL,
      "outcome" varchar(16) NOT NULL,
      "rule" varchar(32) NOT NULL,
      "message" varchar(2048) NOT NULL,
      "evidence" jsonb NOT NULL DEFAULT '{}',
      "thresholds" jsonb NOT NULL DEFAULT '{}',
      "operationId" uuid,
      "dedupKey" varchar(400) NOT NULL,
      "decidedBy" varchar(64) NOT NULL,
      "createdAt" timestamptz NOT NULL DEFAULT now(),
      CONSTRAINT "PK_decisions" PRIMARY KEY ("id"),
      CONSTRAINT "UQ_decisions_dedup" UNIQUE ("dedupKey"),
      CONSTRAINT "FK_decisions_scenario" FOREIGN KEY ("scenarioId") REFERENCES "scenarios"("id")
        ON DELETE CASCADE ON UPDATE NO ACTION
    )`);
    await queryRunner.query(
      `CREATE INDEX "IDX_decisions_scenario_created" ON "decisions" ("scenarioId", "createdAt" DESC)`,
    );
    await queryRunner.query(`CREATE INDEX "IDX_decisions_operation" ON "decisions" ("operationId")`);
    await queryRunner.query(`CREATE TABLE "notes" (
      "id" uuid NOT NULL DEFAULT gen_random_uuid(),
      "targetType" varchar(16) NOT NULL,
      "targetId" uuid NOT NULL,
      "author" varchar(128) NOT NULL,
      "text" varchar(4000) NOT NULL,
      "createdAt" timestamptz NOT NULL DEFAULT now(),
      CONSTRAINT "PK_notes" PRIMARY KEY ("id")
    )`);
    await queryRunner.query(
      `CREATE INDEX "IDX_notes_target" ON "notes" ("targetType", "targetId", "createdAt")`,
    );
  }

  public async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`DROP TABLE "notes"`);
    await queryRunner.query(`DROP TABLE "decisions"`);
  }
}
