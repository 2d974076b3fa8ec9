/**
 * Start-up checks for PostgreSQL: create the default local database when it is missing, create
 * the schema, and turn connection failures into one clear message instead of a stack trace loop.
 */
import { Client } from 'pg';
import { AppConfig } from '../config/app-config';

export class DependencyUnavailableError extends Error {}

function redact(url: string): string {
  return url.replace(/\/\/([^:@/]+):[^@/]*@/, '//$1:***@');
}

export async function ensureDatabase(config: AppConfig): Promise<void> {
  const url = new URL(config.DATABASE_URL);
  const dbName = decodeURIComponent(url.pathname.replace(/^\//, '')) || 'postgres';
  const tryConnect = async (target: string) => {
    const client = new Client({ connectionString: target, connectionTimeoutMillis: 5000 });
    await client.connect();
    return client;
  };
  let client: Client;
  try {
    client = await tryConnect(config.DATABASE_URL);
  } catch (err) {
    const e = err as { code?: string; message: string };
    if (e.code === '3D000' && config.isDefaultLocalDatabase) {
      // Database missing on the default local server: create it (newcomer path).
      const adminUrl = new URL(config.DATABASE_URL);
      adminUrl.pathname = '/postgres';
      const admin = await tryConnect(adminUrl.toString()).catch((e2: Error) => {
        throw new DependencyUnavailableError(
          `PostgreSQL unreachable at ${redact(adminUrl.toString())}: ${e2.message}`,
        );
      });
      try {
        await admin.query(`CREATE DATABASE "${dbName.replace(/"/g, '')}"`);
      } catch (e3) {
        const code = (e3 as { code?: string }).code;
        if (code !== '42P04' && code !== '23505') throw e3; // created concurrently: fine
      } finally {
        await admin.end();
      }
      client = await tryConnect(config.DATABASE_URL);
    } else {
      throw new DependencyUnavailableError(
        `PostgreSQL unreachable at ${redact(config.DATABASE_URL)}: ${e.message}. ` +
          `Start one (Debian: pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start) ` +
          `or set DATABASE_URL.`,
      );
    }
  }
  try {
    await client.query(`CREATE SCHEMA IF NOT EXISTS "${config.DATABASE_SCHEMA}"`);
  } finally {
    await client.end();
  }
}

export { redact };
