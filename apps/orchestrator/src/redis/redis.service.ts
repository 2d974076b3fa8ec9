/**
 * Redis connections: one for commands, one subscriber for pub/sub, and connection options for
 * BullMQ (which needs maxRetriesPerRequest: null). Every key and channel carries REDIS_PREFIX.
 */
import { Injectable, OnApplicationShutdown } from '@nestjs/common';
import Redis, { RedisOptions } from 'ioredis';
import { AppConfig } from '../config/app-config';
import { createLogger } from '../common/logger';
import { redisOptionsFromUrl } from './redis-url';

const log = createLogger('RedisService');

@Injectable()
export class RedisService implements OnApplicationShutdown {
  readonly client: Redis;
  private subscriber: Redis | null = null;
  private readonly handlers = new Map<string, Set<(message: string) => void>>();

  constructor(private readonly config: AppConfig) {
    this.client = this.connect('client');
  }

  get prefix(): string {
    return this.config.REDIS_PREFIX;
  }

  channel(name: string): string {
    return `${this.prefix}:ch:${name}`;
  }

  /** Options for BullMQ queues/workers (separate connections, no request retry limit). */
  bullConnectionOptions(): RedisOptions {
    return {
      ...redisOptionsFromUrl(this.config.REDIS_URL),
      maxRetriesPerRequest: null,
      enableOfflineQueue: true,
      retryStrategy: (times) => Math.min(times * 200, 2000),
    };
  }

  connect(name: string): Redis {
    const r = new Redis({
      ...redisOptionsFromUrl(this.config.REDIS_URL),
      lazyConnect: false,
      maxRetriesPerRequest: 2,
      commandTimeout: this.config.REDIS_COMMAND_TIMEOUT_MS,
      retryStrategy: (times) => Math.min(times * 200, 2000),
      connectionName: `ha-${name}`,
    });
    let down = false;
    r.on('error', (err) => {
      if (!down) log.warn({ err: err.message, connection: name }, 'redis connection error');
      down = true;
    });
    r.on('ready', () => {
      if (down) log.info({ connection: name }, 'redis connection restored');
      down = false;
    });
    return r;
  }

  async publish(name: string, message: string): Promise<void> {
    await this.client.publish(this.channel(name), message);
  }

  async subscribe(name: string, handler: (message: string) => void): Promise<void> {
    if (!this.subscriber) {
      this.subscriber = this.connect('subscriber');
      this.subscriber.on('message', (channel: string, message: string) => {
        for (const h of this.handlers.get(channel) ?? []) h(message);
      });
    }
    const ch = this.channel(name);
    if (!this.handlers.has(ch)) {
      this.handlers.set(ch, new Set());
      await this.subscriber.subscribe(ch);
    }
    this.handlers.get(ch)!.add(handler);
  }

  async onApplicationShutdown(): Promise<void> {
    this.subscriber?.disconnect();
    this.client.disconnect();
  }
}
