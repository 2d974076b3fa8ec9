import { MigrationInterface, QueryRunner } from 'typeorm';

/** Maintenance windows: automatic failover of a node, scenario or group suppressed for a while. */
export class MaintenanceWindows1795900000000 implements MigrationInterface {
  name = 'MaintenanceWindows1795900000000';

  public async up(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`CREATE TABLE "maintenance_windows" (
      "id" uuid NOT NULL DEFAULT gen_random_uuid(),
      "scopeType" varchar(16) NOT NULL,
      "scopeId" uuid NOT NULL,
      "reason" varchar(1024) NOT NULL,
      "startsAt" timestamptz NOT NULL,
      "endsAt" timestamptz NOT NULL,
      "createdBy" varchar(128) NOT NULL,
      "createdAt" timestamptz NOT NULL DEFAULT now(),
      "endedEarlyAt" timestamptz,
      "endedBy" varchar(128),
      "startAnnouncedAt" timestamptz,
      "endAnnouncedAt" timestamptz,
      CONSTRAINT "PK_maintenance_windows" PRIMARY KEY ("id")
    )`);
    await queryRunner.query(
      `CREATE INDEX "IDX_maintenance_windows_ends" ON "maintenance_windows" ("endsAt")`,
    );
  }

  public async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`DROP TABLE "maintenance_windows"`);
  }
}
