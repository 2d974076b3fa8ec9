/**
 * Runs scheduled Assured Recovery tests. Only the detector leader requests them (one instance
 * acts, as for automatic failovers), with trigger `auto`.
 *
 * One interval that checks which schedules are due, rather than a SchedulerRegistry CronJob per
 * scenario: schedules are edited through the API on any instance and leadership moves between
 * instances, and a loop over the topology cache follows both without registering and tearing down
 * jobs in every process. Next fire times come from the `cron` package (what @nestjs/schedule runs
 * on), so an expression means the same as it would in a CronJob. A new leader starts counting
 * from "now": a slot missed during a leadership change is skipped, never run twice.
 */
import { Injectable, OnApplicationBootstrap, OnApplicationShutdown, Optional } from '@nestjs/common';
import { sendAt } from 'cron';
import { DataSource } from 'typeorm';
import { DomainError } from '../common/errors';
import { createLogger } from '../common/logger';
import { DetectorService } from '../detection/detector.service';
import { EventEntity } from '../detection/event.entity';
import { TopologyService } from '../topology/topology.service';
import { NotificationsService } from '../notify/notifications.service';
import { AssuredRecoveryService } from './assured-recovery.service';

const log = createLogger('ArScheduler');
const TICK_MS = 250;

export function nextFireAt(expression: string): number | null {
  try {
    return sendAt(expression).toMillis();
  } catch {
    return null;
  }
}

@Injectable()
export class ArSchedulerService implements OnApplicationBootstrap, OnApplicationShutdown {
  private timer: NodeJS.Timeout | null = null;
  private running = false;
  /** scenarioId → the expression and its next fire time */
  private readonly due = new Map<string, { expression: string; at: number | null }>();

  constructor(
    private readonly dataSource: DataSource,
    private readonly topology: TopologyService,
    private readonly detector: DetectorService,
    private readonly ar: AssuredRecoveryService,
    @Optional() private readonly notifications?: NotificationsService,
  ) {}

  onApplicationBootstrap(): void {
    // The detector is enabled only on instances with the detector role.
    if (!this.detector.enabled) return;
    this.timer = setInterval(() => void this.tick(), TICK_MS);
    this.timer.unref();
  }

  onApplicationShutdown(): void {
    if (this.timer) clearInterval(this.timer);
  }

  async tick(now = Date.now()): Promise<void> {
    if (this.running) return;
    this.running = true;
    try {
      if (!this.detector.isLeader) {
        this.due.clear();
        return;
      }
      const seen = new Set<string>();
      for (const t of this.topology.allScenarios()) {
        const s = t.entity;
        if (!s.arSchedule) continue;
        seen.add(s.id);
        const entry = this.due.get(s.id);
        if (!entry || entry.expression !== s.arSchedule) {
          this.due.set(s.id, { expression: s.arSchedule, at: nextFireAt(s.arSchedule) });
          continue;
        }
        if (entry.at === null || now < entry.at) continue;
        entry.at = nextFireAt(s.arSchedule);
        await this.fire(s.id, s.name, s.arSchedule);
      }
      for (const id of [...this.due.keys()]) if (!seen.has(id)) this.due.delete(id);
    } catch (err) {
      log.warn({ err: (err as Error).message }, 'AR schedule tick failed');
    } finally {
      this.running = false;
    }
  }

  private async fire(scenarioId: string, name: string, schedule: string): Promise<void> {
    try {
      const op = await this.ar.requestTest({
        scenarioId,
        trigger: 'auto',
        requestedBy: 'scheduler',
        reason: `scheduled AR test (${schedule})`,
      });
      log.info({ scenario: name, operationId: op.id }, 'scheduled AR test requested');
    } catch (err) {
      if (!(err instanceof DomainError)) throw err;
      // Not running, another operation, no replica: this slot is skipped, the next one tries again.
      log.info({ scenario: name, err: err.message }, 'scheduled AR test skipped');
      await this.dataSource
        .getRepository(EventEntity)
        .insert({
          kind: 'ar-test-skipped',
          severity: 'warning',
          scenarioId,
          nodeId: null,
          message: `scheduled AR test of ${name} skipped: ${err.message}`.slice(0, 1000),
          details: { schedule, code: err.code, ...err.details } as never,
        })
        .catch((e: Error) => log.warn({ err: e.message }, 'could not record the skipped AR test'));
      await this.notifications
        ?.publish(`ar-test-skipped.${scenarioId}.${Math.floor(Date.now() / 60_000)}`, {
          kind: 'ar-test-skipped',
          severity: 'warning',
          message: `scheduled AR test of ${name} skipped: ${err.message}`.slice(0, 1000),
          scenarioId,
          details: { schedule, code: err.code },
        })
        .catch((e: Error) => log.warn({ err: e.message }, 'webhook not queued'));
    }
  }
}
