/** `npm run migrate [-- --revert]`: apply (or revert the last) migrations, then exit. */
import 'reflect-metadata';
import { loadConfig } from '../config/app-config';
import { createDataSource } from '../database/data-source';
import { ensureDatabase } from '../database/database-bootstrap';

async function main(): Promise<void> {
  const config = loadConfig();
  await ensureDatabase(config);
  const ds = createDataSource(config);
  await ds.initialize();
  try {
    if (process.argv.includes('--revert')) {
      await ds.undoLastMigration({ transaction: 'each' });
      console.log('reverted the last migration');
    } else {
      const applied = await ds.runMigrations({ transaction: 'each' });
      console.log(applied.length ? `applied: ${applied.map((m) => m.name).join(', ')}` : 'up to date');
    }
  } finally {
    await ds.destroy();
  }
}

main().catch((err: Error) => {
  console.error(`migrate failed: ${err.message}`);
  process.exit(1);
});
