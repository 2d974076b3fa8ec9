import { MigrationInterface, QueryRunner } from 'typeorm';

export class Initial1795613083121 implements MigrationInterface {
  name = 'Initial1795613083121';

  public async up(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(
      `CREATE TABLE "audit_log" ("id" BIGSERIAL NOT NULL, "at" TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT now(), "actor" character varying(128) NOT NULL, "action" character varying(64) NOT NULL, "targetType" character varying(32) NOT NULL, "targetId" character varying(64), "reason" character varying(1024), "details" jsonb NOT NULL DEFAULT '{}', "requestId" character varying(64), CONSTRAINT "PK_07fefa57f7f5ab8fc3f52b3ed0b" PRIMARY KEY ("id"))`,
    );
    await queryRunner.query(
      `CREATE INDEX "IDX_7c0cca6e6369db3a240aa4cf13" ON "audit_log" ("targetType", "targetId") `,
    );
    await queryRunner.query(
      `CREATE TABLE "api_tokens" ("id" uuid NOT NULL DEFAULT gen_random_uuid(), "name" character varying(64) NOT NULL, "role" character varying(16) NOT NULL, "tokenHash" character varying(64) NOT NULL, "createdBy" character varying(128) NOT NULL, "createdAt" TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT now(), "revokedAt" TIMESTAMP WITH TIME ZONE, CONSTRAINT "UQ_cb9fafc3afcc49346322334dead" UNIQUE ("name"), CONSTRAINT "UQ_cdac8e064e6e9c2e0835d1c1b86" UNIQUE ("tokenHash"), CONSTRAINT "PK_c587455266b5fa8dace7194caac" PRIMARY KEY ("id"))`,
    );
    await queryRunner.query(
      `CREATE TABLE "idempotency_keys" ("actor" character varying(128) NOT NULL, "key" character varying(128) NOT NULL, "method" character varying(8) NOT NULL, "path" character varying(512) NOT NULL, "requestHash" character varying(64) NOT NULL, "statusCode" integer NOT NULL, "responseBody" jsonb, "createdAt" TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT now(), CONSTRAINT "PK_440561355c591f4d2619280678c" PRIMARY KEY ("actor", "key"))`,
    );
    await queryRunner.query(
      `CREATE TABLE "settings" ("key" character varying(64) NOT NULL, "value" jsonb NOT NULL, "updatedAt" TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT now(), CONSTRAINT "PK_c8639b7626fa94ba8265628f214" PRIMARY KEY ("key"))`,
    );
    await queryRunner.query(
      `CREATE TABLE "events" ("id" BIGSERIAL NOT NULL, "at" TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT now(), "kind" character varying(32) NOT NULL, "severity" character varying(16) NOT NULL DEFAULT 'info', "nodeId" uuid, "scenarioId" uuid, "message" character varying(1024) NOT NULL, "details" jsonb NOT NULL DEFAULT '{}', CONSTRAINT "PK_40731c7151fe4be3116e45ddf73" PRIMARY KEY ("id"))`,
    );
    await queryRunner.query(
      `CREATE INDEX "IDX_77e176dd855aafda2fa6c5a61b" ON "events" ("scenarioId", "at") `,
    );
    await queryRunner.query(`CREATE INDEX "IDX_6304799359b7450d4cd139f43a" ON "events" ("nodeId", "at") `);
    await queryRunner.query(
      `CREATE TABLE "node_status" ("nodeId" uuid NOT NULL, "lastSeenAt" TIMESTAMP WITH TIME ZONE, "lastSeq" bigint NOT NULL DEFAULT '0', "bootId" character varying(64), "report" jsonb NOT NULL DEFAULT '{}', "verdict" character varying(16) NOT NULL DEFAULT 'unknown', "evidence" jsonb NOT NULL DEFAULT '{}', "updatedAt" TIMESTAMP WITH TIME ZONE NOT NULL, CONSTRAINT "PK_3bd932cfbeb5971aaa437106db2" PRIMARY KEY ("nodeId"))`,
    );
    await queryRunner.query(
      `CREATE TABLE "dns_records" ("id" uuid NOT NULL DEFAULT gen_random_uuid(), "scenarioId" uuid NOT NULL, "zone" character varying(253) NOT NULL, "name" character varying(253) NOT NULL, "type" character varying(8) NOT NULL, "ttl" integer NOT NULL, "value" character varying(253) NOT NULL, "epoch" integer NOT NULL, "updatedAt" TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT now(), CONSTRAINT "UQ_ef093102ef20730dc63a4fc3afa" UNIQUE ("name", "type"), CONSTRAINT "PK_b9d97eeaf996c468b2468839c05" PRIMARY KEY ("id"))`,
    );
    await queryRunner.query(
      `CREATE TABLE "nodes" ("id" uuid NOT NULL DEFAULT gen_random_uuid(), "name" character varying(64) NOT NULL, "address" character varying(255) NOT NULL, "agentUrl" character varying(255) NOT NULL, "labels" jsonb NOT NULL DEFAULT '{}', "agentTokenHash" character varying(64) NOT NULL, "actionToken" character varying(128) NOT NULL, "createdAt" TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT now(), "updatedAt" TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT now(), CONSTRAINT "UQ_b8645506b68b2c103372aacc0ff" UNIQUE ("name"), CONSTRAINT "PK_682d6427523a0fa43d062ea03ee" PRIMARY KEY ("id"))`,
    );
    await queryRunner.query(
      `CREATE TABLE "scenario_replicas" ("scenarioId" uuid NOT NULL, "nodeId" uuid NOT NULL, "position" integer NOT NULL, CONSTRAINT "PK_88d97af1964782300423282ba1a" PRIMARY KEY ("scenarioId", "nodeId"))`,
    );
    await queryRunner.query(
      `CREATE TABLE "scenarios" ("id" uuid NOT NULL DEFAULT gen_random_uuid(), "name" character varying(64) NOT NULL, "productionNodeId" uuid NOT NULL, "activeNodeId" uuid NOT NULL, "dnsRecords" jsonb NOT NULL DEFAULT '[]', "failoverMode" character varying(16) NOT NULL DEFAULT 'manual', "checks" jsonb NOT NULL DEFAULT '[]', "policy" jsonb NOT NULL, "state" character varying(32) NOT NULL DEFAULT 'stopped', "epoch" integer NOT NULL DEFAULT '1', "peerToken" character varying(64) NOT NULL, "holdUntil" TIMESTAMP WITH TIME ZONE, "createdAt" TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT now(), "updatedAt" TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT now(), CONSTRAINT "UQ_86cbbbd5686835aebbdb7010b51" UNIQUE ("name"), CONSTRAINT "PK_a2af4912aab626639cca306b987" PRIMARY KEY ("id"))`,
    );
    await queryRunner.query(
      `CREATE TABLE "groups" ("id" uuid NOT NULL DEFAULT gen_random_uuid(), "name" character varying(64) NOT NULL, "description" character varying(512) NOT NULL DEFAULT '', "switchAllIfAnyFails" boolean NOT NULL DEFAULT false, "createdAt" TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT now(), "updatedAt" TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT now(), CONSTRAINT "UQ_664ea405ae2a10c264d582ee563" UNIQUE ("name"), CONSTRAINT "PK_659d1483316afb28afd3a90646e" PRIMARY KEY ("id"))`,
    );
    await queryRunner.query(
      `CREATE TABLE "group_members" ("groupId" uuid NOT NULL, "scenarioId" uuid NOT NULL, CONSTRAINT "PK_39f9f22db05904aa1a7e031054b" PRIMARY KEY ("groupId", "scenarioId"))`,
    );
    await queryRunner.query(
      `CREATE TABLE "operations" ("id" uuid NOT NULL DEFAULT gen_random_uuid(), "scenarioId" uuid, "groupId" uuid, "type" character varying(32) NOT NULL, "state" character varying(16) NOT NULL DEFAULT 'pending', "trigger" character varying(16) NOT NULL, "requestedBy" character varying(128) NOT NULL, "reason" character varying(1024) NOT NULL DEFAULT '', "params" jsonb NOT NULL DEFAULT '{}', "epoch" integer, "error" character varying(2048), "createdAt" TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT now(), "startedAt" TIMESTAMP WITH TIME ZONE, "finishedAt" TIMESTAMP WITH TIME ZONE, CONSTRAINT "PK_7b62d84d6f9912b975987165856" PRIMARY KEY ("id"))`,
    );
    await queryRunner.query(
      `CREATE UNIQUE INDEX "operations_one_active_per_scenario" ON "operations" ("scenarioId") WHERE "state" IN ('pending','running')`,
    );
    await queryRunner.query(
      `CREATE TABLE "operation_steps" ("id" uuid NOT NULL DEFAULT gen_random_uuid(), "operationId" uuid NOT NULL, "position" integer NOT NULL, "name" character varying(64) NOT NULL, "state" character varying(16) NOT NULL DEFAULT 'pending', "attempts" integer NOT NULL DEFAULT '0', "output" jsonb, "error" character varying(2048), "startedAt" TIMESTAMP WITH TIME ZONE, "finishedAt" TIMESTAMP WITH TIME ZONE, CONSTRAINT "PK_9be6d936743399e3c3313285a5d" PRIMARY KEY ("id"))`,
    );
    await queryRunner.query(
      `CREATE UNIQUE INDEX "IDX_c6df6fc06b73798dfbb6213d4c" ON "operation_steps" ("operationId", "position") `,
    );
    await queryRunner.query(
      `ALTER TABLE "scenario_replicas" ADD CONSTRAINT "FK_1c84fcdd3bfb291237e66387271" FOREIGN KEY ("scenarioId") REFERENCES "scenarios"("id") ON DELETE CASCADE ON UPDATE NO ACTION`,
    );
    await queryRunner.query(
      `ALTER TABLE "scenario_replicas" ADD CONSTRAINT "FK_d25af2e8b47bfedca099ce93c4b" FOREIGN KEY ("nodeId") REFERENCES "nodes"("id") ON DELETE RESTRICT ON UPDATE NO ACTION`,
    );
    await queryRunner.query(
      `ALTER TABLE "scenarios" ADD CONSTRAINT "FK_7612b7823a29874b9d0f3e8a322" FOREIGN KEY ("productionNodeId") REFERENCES "nodes"("id") ON DELETE RESTRICT ON UPDATE NO ACTION`,
    );
    await queryRunner.query(
      `ALTER TABLE "scenarios" ADD CONSTRAINT "FK_09f488d5c7331fe1c44e2e87ac5" FOREIGN KEY ("activeNodeId") REFERENCES "nodes"("id") ON DELETE RESTRICT ON UPDATE NO ACTION`,
    );
    await queryRunner.query(
      `ALTER TABLE "group_members" ADD CONSTRAINT "FK_1aa8d31831c3126947e7a713c2b" FOREIGN KEY ("groupId") REFERENCES "groups"("id") ON DELETE CASCADE ON UPDATE NO ACTION`,
    );
    await queryRunner.query(
      `ALTER TABLE "group_members" ADD CONSTRAINT "FK_a51e87b5a80f87d7d90a2ee0b15" FOREIGN KEY ("scenarioId") REFERENCES "scenarios"("id") ON DELETE CASCADE ON UPDATE NO ACTION`,
    );
  }

  public async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`ALTER TABLE "group_members" DROP CONSTRAINT "FK_a51e87b5a80f87d7d90a2ee0b15"`);
    await queryRunner.query(`ALTER TABLE "group_members" DROP CONSTRAINT "FK_1aa8d31831c3126947e7a713c2b"`);
    await queryRunner.query(`ALTER TABLE "scenarios" DROP CONSTRAINT "FK_09f488d5c7331fe1c44e2e87ac5"`);
    await queryRunner.query(`ALTER TABLE "scenarios" DROP CONSTRAINT "FK_7612b7823a29874b9d0f3e8a322"`);
    await queryRunner.query(
      `ALTER TABLE "scenario_replicas" DROP CONSTRAINT "FK_d25af2e8b47bfedca099ce93c4b"`,
    );
    await queryRunner.query(
      `ALTER TABLE "scenario_replicas" DROP CONSTRAINT "FK_1c84fcdd3bfb291237e66387271"`,
    );
    await queryRunner.query(`DROP INDEX "IDX_c6df6fc06b73798dfbb6213d4c"`);
    await queryRunner.query(`DROP TABLE "operation_steps"`);
    await queryRunner.query(`DROP INDEX "operations_one_active_per_scenario"`);
    await queryRunner.query(`DROP TABLE "operations"`);
    await queryRunner.query(`DROP TABLE "group_members"`);
    await queryRunner.query(`DROP TABLE "groups"`);
    await queryRunner.query(`DROP TABLE "scenarios"`);
    await queryRunner.query(`DROP TABLE "scenario_replicas"`);
    await queryRunner.query(`DROP TABLE "nodes"`);
    await queryRunner.query(`DROP TABLE "dns_records"`);
    await queryRunner.query(`DROP TABLE "node_status"`);
    await queryRunner.query(`DROP INDEX "IDX_6304799359b7450d4cd139f43a"`);
    await queryRunner.query(`DROP INDEX "IDX_77e176dd855aafda2fa6c5a61b"`);
    await queryRunner.query(`DROP TABLE "events"`);
    await queryRunner.query(`DROP TABLE "settings"`);
    await queryRunner.query(`DROP TABLE "idempotency_keys"`);
    await queryRunner.query(`DROP TABLE "api_tokens"`);
    await queryRunner.query(`DROP INDEX "IDX_7c0cca6e6369db3a240aa4cf13"`);
    await queryRunner.query(`DROP TABLE "audit_log"`);
  }
}
