import pino, { Logger } from 'pino';

/** Keys that may hold secrets anywhere in a log object; pino replaces them before writing. */
const REDACT = [
  'token',
  'actionToken',
  'peerToken',
  'authorization',
  '*.token',
  '*.actionToken',
  '*.peerToken',
  '*.authorization',
  '*.*.peerToken',
];

/** One JSON line per event on stdout, ISO time, never a secret. */
export function createLogger(options: { level: string; nodeId: string; nodeName: string }): Logger {
  return pino({
    level: options.level,
    base: { app: 'heartbeat-agent', nodeId: options.nodeId, nodeName: options.nodeName, pid: process.pid },
    timestamp: pino.stdTimeFunctions.isoTime,
    formatters: { level: (label) => ({ level: label }) },
    redact: { paths: REDACT, censor: '[redacted]' },
  });
}
