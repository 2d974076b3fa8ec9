import { MigrationInterface, QueryRunner } from 'typeorm';

/** Alerts received from Alertmanager and the generic receiver (alerts/alert.entity.ts). */
export class ExternalAlerts1796300000000 implements MigrationInterface {
  name = 'ExternalAlerts1796300000000';

  public async up(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(
      `CREATE TABLE "external_alerts" ("id" uuid NOT NULL DEFAULT gen_random_uuid(), "source" character varying(16) NOT NULL, "observer" character varying(128) NOT NULL, "fingerprint" character varying(128) NOT NULL, "name" character varying(256) NOT NULL, "state" character varying(16) NOT NULL, "severity" character varying(64), "summary" character varying(1024), "nodeId" uuid, "scenarioId" uuid, "mapping" character varying(512) NOT NULL, "labels" jsonb NOT NULL DEFAULT '{}', "annotations" jsonb NOT NULL DEFAULT '{}', "startsAt" TIMESTAMP WITH TIME ZONE NOT NULL, "endsAt" TIMESTAMP WITH TIME ZONE, "expiresAt" TIMESTAMP WITH TIME ZONE NOT NULL, "firstReceivedAt" TIMESTAMP WITH TIME ZONE NOT NULL, "lastReceivedAt" TIMESTAMP WITH TIME ZONE NOT NULL, "receivedCount" integer NOT NULL DEFAULT 1, CONSTRAINT "PK_external_alerts" PRIMARY KEY ("id"))`,
    );
    await queryRunner.query(
      `CREATE UNIQUE INDEX "IDX_external_alerts_identity" ON "external_alerts" ("source", "observer", "fingerprint")`,
    );
    await queryRunner.query(
      `CREATE INDEX "IDX_external_alerts_firing" ON "external_alerts" ("expiresAt") WHERE "state" = 'firing'`,
    );
    await queryRunner.query(
      `CREATE INDEX "IDX_external_alerts_received" ON "external_alerts" ("lastReceivedAt")`,
    );
  }

  public async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`DROP TABLE "external_alerts"`);
  }
}
