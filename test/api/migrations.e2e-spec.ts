/** Every migration goes up and comes back down on a fresh schema, and goes up again. */
import { Client } from 'pg';
import { createDataSource } from '../../apps/orchestrator/src/database/data-source';
import { ENTITIES } from '../../apps/orchestrator/src/database/entities';
import { MIGRATIONS } from '../../apps/orchestrator/src/database/migrations';
import { dropSchema, TEST_DATABASE_URL, uniqueName } from '../support/orchestrator';

describe('migrations round trip', () => {
  const schema = uniqueName('migrations');
  const admin = new Client({ connectionString: TEST_DATABASE_URL });

  beforeAll(async () => {
    await admin.connect();
    await admin.query(`CREATE SCHEMA "${schema}"`);
  });
  afterAll(async () => {
    await admin.end().catch(() => undefined);
    await dropSchema(schema);
  });

  const relations = async (kinds: string[]) =>
    (
      await admin.query<{ relname: string }>(
        `SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
         WHERE n.nspname = $1 AND c.relkind = ANY($2) ORDER BY c.relname`,
        [schema, kinds],
      )
    ).rows.map((r) => r.relname);
  const tables = () => relations(['r', 'p']);

  it('up, all the way down, up again', async () => {
    const ds = createDataSource({ DATABASE_URL: TEST_DATABASE_URL, DATABASE_SCHEMA: schema });
    await ds.initialize();
    try {
      const applied = await ds.runMigrations({ transaction: 'each' });
      expect(applied.map((m) => m.name)).toHaveLength(MIGRATIONS.length);
      const up = await tables();
      // Every entity has its table.
      for (const entity of ENTITIES) expect(up).toContain(ds.getMetadata(entity).tableName);
      expect(up).toContain('migrations');
      // The schema the migrations build is the one the entities describe.
      expect(await ds.driver.createSchemaBuilder().log()).toMatchObject({ upQueries: [] });

      for (let i = 0; i < MIGRATIONS.length; i++) await ds.undoLastMigration({ transaction: 'each' });
      expect((await ds.query('SELECT count(*)::int AS n FROM migrations'))[0].n).toBe(0);
      expect(await tables()).toEqual(['migrations']);
      // No index, sequence or view left behind either (besides the migrations table's own).
      for (const rel of await relations(['i', 'S', 'v', 'm']))
        expect(rel).toMatch(/^(PK_.*|migrations_id_seq)$/);
      const types = await admin.query(
        `SELECT t.typname FROM pg_type t JOIN pg_namespace n ON n.oid = t.typnamespace
         WHERE n.nspname = $1 AND t.typtype = 'e'`,
        [schema],
      );
      expect(types.rows).toEqual([]);

      const again = await ds.runMigrations({ transaction: 'each' });
      expect(again).toHaveLength(MIGRATIONS.length);
      expect(await tables()).toEqual(up);
      expect(await ds.driver.createSchemaBuilder().log()).toMatchObject({ upQueries: [] });
    } finally {
      await ds.destroy();
    }
  });
});
