import 'reflect-metadata';
import { DataSource } from 'typeorm';
import { ApiTokenEntity } from './auth/api-token.entity';
import { hashToken, newToken } from './auth/token-hash';
import { createApp } from './bootstrap';
import { rootLogger } from './common/logger';
import { ConfigError, loadConfig } from './config/app-config';
import { DependencyUnavailableError } from './database/database-bootstrap';

async function main(): Promise<void> {
  let config;
  try {
    config = loadConfig();
  } catch (err) {
    if (err instanceof ConfigError) {
      console.error(err.message);
      process.exit(2);
    }
    throw err;
  }
  const app = await createApp(config);
  if (!config.ADMIN_TOKEN) await ensureInitialAdmin(app.get(DataSource));
  await app.listen({ host: config.HTTP_HOST, port: config.HTTP_PORT });
  rootLogger.info(
    { http: `http://${config.HTTP_HOST}:${config.HTTP_PORT}`, roles: config.ORCHESTRATOR_ROLES },
    'orchestrator started',
  );
}

/**
 * First start without ADMIN_TOKEN and without any token: create one admin token and print it once
 * (like an initial password), so a fresh install is never an API nobody can use.
 */
async function ensureInitialAdmin(ds: DataSource): Promise<void> {
  const repo = ds.getRepository(ApiTokenEntity);
  if ((await repo.count()) > 0) return;
  const token = newToken('hat');
  await repo.insert({
    name: 'initial-admin',
    role: 'admin',
    tokenHash: hashToken(token),
    createdBy: 'system',
  });
  console.log(
    `\nInitial admin token (shown once; create named tokens with POST /api/v1/tokens, then revoke it):\n  ${token}\n`,
  );
}

main().catch((err: Error) => {
  if (err instanceof DependencyUnavailableError) {
    console.error(err.message);
  } else {
    rootLogger.fatal({ err }, 'start-up failed');
  }
  process.exit(1);
});
