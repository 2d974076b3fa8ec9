import 'reflect-metadata';
export * from './checks';
export * from './roles';
export * from './heartbeat';
export * from './actions';
export * from './json-limits';
export * from './heartbeat.schema';
export * from './udp-heartbeat';
export * from './agent-runtime';
