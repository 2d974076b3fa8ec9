import { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Events carry the id of the transaction that wrote them, so the live stream can read them in
 * commit-safe order without gaps (events/event-stream.service.ts). Existing rows get this
 * migration's transaction id: they are all committed, which is all the stream needs of them.
 */
export class EventStreamCursor1796100000000 implements MigrationInterface {
  name = 'EventStreamCursor1796100000000';

  public async up(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`ALTER TABLE "events" ADD "xid" bigint NOT NULL DEFAULT txid_current()`);
    await queryRunner.query(`CREATE INDEX "IDX_c32fe2c778de16f9f11958d67c" ON "events" ("xid", "id")`);
  }

  public async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`DROP INDEX "IDX_c32fe2c778de16f9f11958d67c"`);
    await queryRunner.query(`ALTER TABLE "events" DROP COLUMN "xid"`);
  }
}
