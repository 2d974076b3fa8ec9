/**
 * TypeORM data source options shared by the app, the migrate command and tests.
 * Tables live in DATABASE_SCHEMA through the connection's search_path (not TypeORM's `schema`
 * option), so the same migrations serve any schema and tests can each use their own.
 */
import { DataSource, DataSourceOptions } from 'typeorm';
import { AppConfig } from '../config/app-config';
import { ENTITIES } from './entities';
import { MIGRATIONS } from './migrations';

export function dataSourceOptions(
  config: Pick<AppConfig, 'DATABASE_URL' | 'DATABASE_SCHEMA'> &
    Partial<Pick<AppConfig, 'DATABASE_POOL_SIZE'>>,
): DataSourceOptions {
  return {
    type: 'postgres',
    url: config.DATABASE_URL,
    entities: ENTITIES,
    migrations: MIGRATIONS,
    migrationsTableName: 'migrations',
    synchronize: false,
    migrationsRun: false,
    logging: false,
    extra: {
      options: `-c search_path=${config.DATABASE_SCHEMA}`,
      max: config.DATABASE_POOL_SIZE ?? 10,
      connectionTimeoutMillis: 5000,
    },
  };
}

export function createDataSource(config: Pick<AppConfig, 'DATABASE_URL' | 'DATABASE_SCHEMA'>): DataSource {
  return new DataSource(dataSourceOptions(config));
}

// For the TypeORM CLI (migration:generate) against the default database.
export default createDataSource({
  DATABASE_URL: process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/ha',
  DATABASE_SCHEMA: process.env.DATABASE_SCHEMA ?? 'public',
});
