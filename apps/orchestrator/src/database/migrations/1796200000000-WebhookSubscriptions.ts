import { MigrationInterface, QueryRunner } from 'typeorm';

/** Webhook subscriptions managed through the API, and their delivery log (notify/webhook.entity.ts). */
export class WebhookSubscriptions1796200000000 implements MigrationInterface {
  name = 'WebhookSubscriptions1796200000000';

  public async up(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(
      `CREATE TABLE "webhook_subscriptions" ("id" uuid NOT NULL DEFAULT gen_random_uuid(), "name" character varying(64) NOT NULL, "url" character varying(2048) NOT NULL, "kinds" text array NOT NULL DEFAULT '{}', "scenarioId" uuid, "groupId" uuid, "secret" character varying(256), "enabled" boolean NOT NULL DEFAULT true, "maxAttempts" integer NOT NULL DEFAULT 12, "timeoutMs" integer NOT NULL DEFAULT 5000, "source" character varying(8) NOT NULL DEFAULT 'api', "createdBy" character varying(128) NOT NULL, "createdAt" TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT now(), "updatedAt" TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT now(), CONSTRAINT "UQ_webhook_subscriptions_name" UNIQUE ("name"), CONSTRAINT "PK_webhook_subscriptions" PRIMARY KEY ("id"))`,
    );
    await queryRunner.query(
      `CREATE TABLE "webhook_deliveries" ("id" uuid NOT NULL DEFAULT gen_random_uuid(), "jobId" character varying(400) NOT NULL, "subscriptionId" uuid NOT NULL, "eventId" character varying(300) NOT NULL, "kind" character varying(64) NOT NULL, "state" character varying(16) NOT NULL, "attempts" integer NOT NULL DEFAULT 0, "responseStatus" integer, "error" character varying(1024), "latencyMs" integer, "redeliveryOf" uuid, "body" jsonb NOT NULL, "createdAt" TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT now(), "updatedAt" TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT now(), "deliveredAt" TIMESTAMP WITH TIME ZONE, CONSTRAINT "UQ_webhook_deliveries_job" UNIQUE ("jobId"), CONSTRAINT "PK_webhook_deliveries" PRIMARY KEY ("id"))`,
    );
    await queryRunner.query(
      `CREATE INDEX "IDX_webhook_deliveries_sub_created" ON "webhook_deliveries" ("subscriptionId", "createdAt")`,
    );
    await queryRunner.query(
      `ALTER TABLE "webhook_deliveries" ADD CONSTRAINT "FK_webhook_deliveries_subscription" FOREIGN KEY ("subscriptionId") REFERENCES "webhook_subscriptions"("id") ON DELETE CASCADE ON UPDATE NO ACTION`,
    );
  }

  public async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`DROP TABLE "webhook_deliveries"`);
    await queryRunner.query(`DROP TABLE "webhook_subscriptions"`);
  }
}
