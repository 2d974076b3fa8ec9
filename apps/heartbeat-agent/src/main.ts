/**
 * Entry point: `node dist/apps/heartbeat-agent/src/main.js --config <file>`.
 * Exit codes: 0 after SIGTERM/SIGINT, 2 bad usage or config, 3 unusable state file, 1 anything else.
 */
import { Agent } from './agent';
import { AgentConfig, loadConfig } from './config';
import { ConfigError, StateFileError } from './errors';
import { createLogger } from './logger';

const EXIT_USAGE = 2;
const EXIT_STATE = 3;

function configPath(argv: string[]): string | undefined {
  for (let i = 0; i < argv.length; i++) {
    if (argv[i] === '--config') return argv[i + 1];
    if (argv[i].startsWith('--config=')) return argv[i].slice('--config='.length);
  }
  return undefined;
}

/** One line on stderr: what the operator needs to fix. */
function die(code: number, message: string): never {
  process.stderr.write(`heartbeat-agent: ${message.replace(/\s*\n\s*/g, ' ')}\n`);
  process.exit(code);
}

async function main(): Promise<void> {
  const path = configPath(process.argv.slice(2));
  if (!path) die(EXIT_USAGE, 'usage: heartbeat-agent --config <file.yaml|file.json>');

  let config: AgentConfig;
  try {
    config = loadConfig(path);
  } catch (err) {
    if (err instanceof ConfigError) die(EXIT_USAGE, `invalid config ${path}: ${err.message}`);
    throw err;
  }

  const logger = createLogger({ level: config.logLevel, nodeId: config.nodeId, nodeName: config.nodeName });
  let agent: Agent;
  try {
    agent = Agent.create(config, { logger });
  } catch (err) {
    if (err instanceof StateFileError) die(EXIT_STATE, err.message);
    throw err;
  }

  let signalled = false;
  const shutdown = (signal: NodeJS.Signals): void => {
    if (signalled) {
      logger.warn({ event: 'agent.forced_exit', signal }, 'second signal: exiting now');
      process.exit(1);
    }
    signalled = true;
    logger.info({ event: 'agent.stopping', signal }, 'stopping');
    agent.stop().then(
      () => process.exit(0),
      (err: Error) => {
        logger.error({ event: 'agent.stop_failed', err: err.message }, 'clean stop failed');
        process.exit(1);
      },
    );
  };
  process.on('SIGTERM', shutdown);
  process.on('SIGINT', shutdown);
  process.on('unhandledRejection', (reason) => {
    logger.error({ event: 'agent.unhandled_rejection', err: String(reason) }, 'unhandled rejection');
  });

  try {
    await agent.start();
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    logger.fatal({ event: 'agent.start_failed', err: e.message, code: e.code }, 'agent could not start');
    die(1, `cannot start: ${e.message}`);
  }
}

main().catch((err: Error) => die(1, `fatal: ${err.message}`));
