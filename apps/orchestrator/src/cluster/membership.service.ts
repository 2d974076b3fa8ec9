/**
 * Detector membership: which orchestrator instances share the detection work now. Each instance
 * with the detector role holds a Redis key with a lease (renewed every second, gone 3 s after its
 * last renewal) naming its id and the URL agents reach it at; every instance reads the same member
 * list and computes the same ShardMap. A node is evaluated by its owner and its backup (the backup
 * has the heartbeats and warm verdicts, so taking over costs nothing), and acted on by its owner only.
 *
 * Fail static: without Redis the last known map stays in use for verdicts, but an instance whose
 * own lease could not be renewed for LEASE_MS - 1 s stops acting (the others will have taken its
 * share by the time its key expires). With DETECTOR_SHARDING=false every detector instance
 * evaluates every node and the detector leader acts (the single-leader model).
 */
import { randomUUID } from 'node:crypto';
import { hostname } from 'node:os';
import { Injectable, OnApplicationBootstrap, OnApplicationShutdown } from '@nestjs/common';
import { HttpAdapterHost } from '@nestjs/core';
import { Subscription } from 'rxjs';
import { createLogger } from '../common/logger';
import { AppConfig } from '../config/app-config';
import { DetectorMember, ShardMap } from '../detection/shard-map';
import { RedisService } from '../redis/redis.service';

const log = createLogger('DetectorMembership');
export const MEMBERSHIP_LEASE_MS = 3000;
const RENEW_MS = 1000;
/** Stop acting this long before our key can have expired in the others' eyes. */
const ACT_MARGIN_MS = 1000;

@Injectable()
export class DetectorMembership implements OnApplicationBootstrap, OnApplicationShutdown {
  readonly id = randomUUID();
  private map: ShardMap | null = null;
  /** bumps with every change of the member list */
  generation = 0;
  private renewedAt = 0;
  private timer: NodeJS.Timeout | null = null;
  private listening: Subscription | null = null;
  private running: Promise<void> | null = null;

  constructor(
    private readonly config: AppConfig,
    private readonly redis: RedisService,
    private readonly adapterHost: HttpAdapterHost,
  ) {}

  /**
   * Sharding on: a detector instance evaluates and acts for its share only; every instance (an
   * api-only one too) reads the members, to tell agents their owners.
   */
  get enabled(): boolean {
    return this.config.DETECTOR_SHARDING === 'true' && (this.isMember || this.config.roles.has('api'));
  }

  /** Detector instances are members (hold a lease); the others only read the list. */
  private get isMember(): boolean {
    return this.config.roles.has('detector');
  }

  onApplicationBootstrap(): void {
    if (!this.enabled) return;
    this.timer = setInterval(() => void this.round(), RENEW_MS);
    this.timer.unref();
    // The advertised URL needs the port, known once the server listens: register at once then.
    this.listening = this.adapterHost.listen$.subscribe(() => void this.round());
  }

  async onApplicationShutdown(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.listening?.unsubscribe();
    if (!this.enabled || !this.isMember) return;
    // Leave at once, so the others take our share now instead of after the lease.
    await this.redis.client
      .multi()
      .del(this.memberKey(this.id))
      .srem(this.setKey, this.id)
      .exec()
      .catch(() => undefined);
  }

  private get setKey(): string {
    return `${this.redis.prefix}:detectors`;
  }

  private memberKey(id: string): string {
    return `${this.redis.prefix}:detectors:${id}`;
  }

  /** The URL agents reach this instance at: ORCHESTRATOR_URL, or host and listening port. */
  advertisedUrl(): string | null {
    if (this.config.ORCHESTRATOR_URL) return this.config.ORCHESTRATOR_URL.replace(/\/+$/, '');
    const address = this.adapterHost.httpAdapter?.getHttpServer?.()?.address?.();
    if (!address || typeof address === 'string') return null;
    const host = ['0.0.0.0', '::', ''].includes(this.config.HTTP_HOST) ? hostname() : this.config.HTTP_HOST;
    return `http://${host.includes(':') ? `[${host}]` : host}:${address.port}`;
  }

  /** One renewal and read of the member list (single flight). */
  round(): Promise<void> {
    this.running ??= this.renewAndRead().finally(() => {
      this.running = null;
    });
    return this.running;
  }

  private async renewAndRead(): Promise<void> {
    const url = this.advertisedUrl();
    if (!url && this.isMember) return;
    try {
      const self: DetectorMember | null = this.isMember ? { id: this.id, url: url! } : null;
      let ids: string[];
      if (self) {
        const res = await this.redis.client
          .multi()
          .set(this.memberKey(this.id), JSON.stringify(self), 'PX', MEMBERSHIP_LEASE_MS)
          .sadd(this.setKey, this.id)
          .smembers(this.setKey)
          .exec();
        ids = (res?.[2]?.[1] as string[] | undefined) ?? [this.id];
        this.renewedAt = Date.now();
      } else ids = await this.redis.client.smembers(this.setKey);
      if (ids.length === 0) return;
      const values = await this.redis.client.mget(...ids.map((id) => this.memberKey(id)));
      const members: DetectorMember[] = [];
      const gone: string[] = [];
      ids.forEach((id, i) => {
        const v = values[i];
        if (!v) return void gone.push(id);
        try {
          const m = JSON.parse(v) as DetectorMember;
          if (typeof m.id === 'string' && typeof m.url === 'string') members.push(m);
        } catch {
          gone.push(id);
        }
      });
      if (gone.length) await this.redis.client.srem(this.setKey, ...gone);
      if (self && !members.some((m) => m.id === this.id)) members.push(self);
      if (!this.map || !this.map.sameAs(members)) {
        this.map = new ShardMap(members);
        this.generation++;
        log.info(
          { instance: this.id, members: this.map.members.map((m) => ({ id: m.id, url: m.url })) },
          'detector members changed',
        );
      }
    } catch (err) {
      log.debug({ err: (err as Error).message }, 'membership round failed');
    }
  }

  /** This instance may act now (its lease is surely still held). */
  get canAct(): boolean {
    return !this.enabled || Date.now() - this.renewedAt < MEMBERSHIP_LEASE_MS - ACT_MARGIN_MS;
  }

  get members(): DetectorMember[] {
    return this.map?.members ?? [];
  }

  /** Owner first, then backup; empty while the map is not known yet (or sharding is off). */
  ownersOf(nodeId: string): DetectorMember[] {
    return this.enabled ? (this.map?.ownersOf(nodeId) ?? []) : [];
  }

  /** This instance acts for the node (always, with sharding off). */
  owns(nodeId: string): boolean {
    if (!this.enabled) return true;
    return this.map?.ownerOf(nodeId)?.id === this.id;
  }

  /** This instance evaluates the node: its owner or its backup (always, with sharding off). */
  watches(nodeId: string): boolean {
    if (!this.enabled) return true;
    return this.map?.ownersOf(nodeId).some((m) => m.id === this.id) ?? false;
  }
}
