/**
 * One detector acts at a time. Every instance with the detector role evaluates verdicts (so any
 * of them can answer the health API and take over warm), but only the leader records verdict
 * events and requests failovers — otherwise N instances would write N copies of every event,
 * alert and webhook. Leadership is a Redis key with a TTL, renewed every second; if the leader
 * dies, another instance takes over within LEASE_MS. Without Redis no instance is leader, which
 * matches fail static: no new failover starts while Redis is down.
 */
import { randomUUID } from 'node:crypto';
import { Injectable, OnApplicationShutdown } from '@nestjs/common';
import { createLogger } from '../common/logger';
import { RedisService } from '../redis/redis.service';

const log = createLogger('LeaderElection');
const LEASE_MS = 3000;
const RENEW_MS = 1000;

const RENEW_LUA = `
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
return 0`;
const RELEASE_LUA = `
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0`;

@Injectable()
export class LeaderElection implements OnApplicationShutdown {
  readonly id = randomUUID();
  isLeader = false;
  private timer: NodeJS.Timeout | null = null;
  private onGain: (() => void) | null = null;

  constructor(private readonly redis: RedisService) {}

  get key(): string {
    return `${this.redis.prefix}:detector-leader`;
  }

  start(onGain: () => void): void {
    this.onGain = onGain;
    void this.round();
    this.timer = setInterval(() => void this.round(), RENEW_MS);
    this.timer.unref();
  }

  private async round(): Promise<void> {
    const was = this.isLeader;
    try {
      if (this.isLeader) {
        this.isLeader =
          (await this.redis.client.eval(RENEW_LUA, 1, this.key, this.id, String(LEASE_MS))) === 1;
      } else {
        this.isLeader = (await this.redis.client.set(this.key, this.id, 'PX', LEASE_MS, 'NX')) === 'OK';
      }
    } catch {
      this.isLeader = false;
    }
    if (this.isLeader !== was) {
      log.info(
        { instance: this.id, leader: this.isLeader },
        this.isLeader ? 'detector leadership gained' : 'detector leadership lost',
      );
      if (this.isLeader) this.onGain?.();
    }
  }

  async onApplicationShutdown(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    if (this.isLeader) {
      // Hand over at once instead of letting the key expire.
      await this.redis.client.eval(RELEASE_LUA, 1, this.key, this.id).catch(() => undefined);
      this.isLeader = false;
    }
  }
}
