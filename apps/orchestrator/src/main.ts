import 'reflect-metadata';
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
  await app.listen({ host: config.HTTP_HOST, port: config.HTTP_PORT });
  rootLogger.info(
    { http: `http://${config.HTTP_HOST}:${config.HTTP_PORT}`, roles: config.ORCHESTRATOR_ROLES },
    'orchestrator started',
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
