import { MigrationInterface, QueryRunner } from 'typeorm';

/** Group AR runs and their members (assured-recovery/group-ar-run.entity.ts). */
export class GroupArRuns1796500000000 implements MigrationInterface {
  name = 'GroupArRuns1796500000000';

  public async up(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(
      `CREATE TABLE "group_ar_runs" ("id" uuid NOT NULL DEFAULT gen_random_uuid(), "groupId" uuid NOT NULL, "reason" character varying(1024) NOT NULL, "requestedBy" character varying(256) NOT NULL, "maxParallel" integer NOT NULL, "snapshot" boolean, "state" character varying(16) NOT NULL DEFAULT 'running', "summary" jsonb, "createdAt" TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT now(), "finishedAt" TIMESTAMP WITH TIME ZONE, CONSTRAINT "PK_group_ar_runs" PRIMARY KEY ("id"), CONSTRAINT "FK_group_ar_runs_group" FOREIGN KEY ("groupId") REFERENCES "groups"("id") ON DELETE CASCADE)`,
    );
    await queryRunner.query(
      `CREATE INDEX "IDX_group_ar_runs_group" ON "group_ar_runs" ("groupId", "createdAt")`,
    );
    // One run at a time per group.
    await queryRunner.query(
      `CREATE UNIQUE INDEX "IDX_group_ar_runs_one_running" ON "group_ar_runs" ("groupId") WHERE "state" = 'running'`,
    );
    await queryRunner.query(
      `CREATE TABLE "group_ar_run_members" ("runId" uuid NOT NULL, "scenarioId" uuid NOT NULL, "position" integer NOT NULL, "state" character varying(16) NOT NULL DEFAULT 'pending', "operationId" uuid, "arResult" character varying(16), "error" character varying(1024), "startedAt" TIMESTAMP WITH TIME ZONE, "finishedAt" TIMESTAMP WITH TIME ZONE, CONSTRAINT "PK_group_ar_run_members" PRIMARY KEY ("runId", "scenarioId"), CONSTRAINT "FK_group_ar_run_members_run" FOREIGN KEY ("runId") REFERENCES "group_ar_runs"("id") ON DELETE CASCADE, CONSTRAINT "FK_group_ar_run_members_scenario" FOREIGN KEY ("scenarioId") REFERENCES "scenarios"("id") ON DELETE CASCADE)`,
    );
  }

  public async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`DROP TABLE "group_ar_run_members"`);
    await queryRunner.query(`DROP TABLE "group_ar_runs"`);
  }
}
