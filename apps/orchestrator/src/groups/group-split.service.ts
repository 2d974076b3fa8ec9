/**
 * Group status and split detection. A group is split when some protected members are active on
 * their production nodes and others on a replica (group-consistency.ts): users of one service are
 * served from one site while the rest have moved, which a distributed group exists to prevent.
 *
 * Every instance with the detector role checks all groups once a second (one query). A split that
 * lasts GROUP_SPLIT_GRACE_MS with no member operation running is announced once per split, by
 * whichever instance claims it first in PostgreSQL (groups.splitAnnouncedAt): one `group-split`
 * event and webhook for the group, not one per member. When the group is consistent again (all on
 * one side, nothing running) the claim is released and `group-consistent` is announced.
 * The fix is a group active-server recovery that keeps one side (POST /groups/{id}/active-server-recovery).
 */
import { Injectable, OnApplicationBootstrap, OnApplicationShutdown, Optional } from '@nestjs/common';
import { DataSource } from 'typeorm';
import { NotFoundError } from '../common/errors';
import { createLogger } from '../common/logger';
import { startTicker } from '../common/ticker';
import { AppConfig } from '../config/app-config';
import { EventEntity } from '../detection/event.entity';
import { MetricsService } from '../metrics/metrics.service';
import { NotificationsService } from '../notify/notifications.service';
import { GroupConsistencyResult, groupConsistency, GroupMemberState } from './group-consistency';
import { GroupEntity } from './group.entity';

const log = createLogger('GroupSplit');

/** How long a group must stay split (with nothing running) before it is announced. */
export const GROUP_SPLIT_GRACE_MS = 3000;
const CHECK_MS = 1000;

export interface GroupStatus extends GroupConsistencyResult {
  groupId: string;
  name: string;
  /** when the current split was announced (null: consistent, or not announced yet) */
  splitAnnouncedAt: Date | null;
}

interface MemberRow extends GroupMemberState {
  groupId: string;
}

@Injectable()
export class GroupSplitService implements OnApplicationBootstrap, OnApplicationShutdown {
  /** groups seen split (nothing running) since then, on this instance */
  private readonly splitSince = new Map<string, number>();
  private stop: (() => void) | null = null;

  constructor(
    private readonly dataSource: DataSource,
    private readonly config: AppConfig,
    @Optional() private readonly metrics?: MetricsService,
    @Optional() private readonly notifications?: NotificationsService,
  ) {}

  onApplicationBootstrap(): void {
    if (!this.config.roles.has('detector')) return;
    this.stop = startTicker(CHECK_MS, () => this.check(), log, 'group split check');
  }

  onApplicationShutdown(): void {
    this.stop?.();
  }

  /** One group's members, their sides and whether the group is consistent, read now. */
  async status(groupId: string): Promise<GroupStatus> {
    const group = await this.dataSource.getRepository(GroupEntity).findOne({ where: { id: groupId } });
    if (!group) throw new NotFoundError('group', groupId);
    const rows = await this.memberRows(groupId);
    return {
      groupId: group.id,
      name: group.name,
      splitAnnouncedAt: group.splitAnnouncedAt,
      ...groupConsistency(rows),
    };
  }

  /** One round over every group: announce splits that outlasted the grace, and their ends. */
  async check(now = Date.now()): Promise<void> {
    const groups = await this.dataSource
      .getRepository(GroupEntity)
      .find({ select: { id: true, name: true, splitAnnouncedAt: true } });
    const byGroup = new Map<string, MemberRow[]>();
    for (const r of await this.memberRows()) {
      const list = byGroup.get(r.groupId) ?? [];
      list.push(r);
      byGroup.set(r.groupId, list);
    }
    let split = 0;
    for (const g of groups) {
      const c = groupConsistency(byGroup.get(g.id) ?? []);
      if (c.consistency === 'split') {
        split++;
        const since = this.splitSince.get(g.id) ?? now;
        this.splitSince.set(g.id, since);
        if (g.splitAnnouncedAt === null && now - since >= GROUP_SPLIT_GRACE_MS)
          await this.announce(g, c, 'split');
        continue;
      }
      this.splitSince.delete(g.id);
      // A member moving is neither split nor consistent yet: the announcement waits for the outcome.
      if (g.splitAnnouncedAt !== null && (c.consistency === 'consistent' || c.consistency === 'inactive'))
        await this.announce(g, c, 'consistent');
    }
    for (const id of this.splitSince.keys()) if (!groups.some((g) => g.id === id)) this.splitSince.delete(id);
    this.metrics?.groupsSplit.set(split);
  }

  private async announce(
    g: Pick<GroupEntity, 'id' | 'name'>,
    c: GroupConsistencyResult,
    what: 'split' | 'consistent',
  ): Promise<void> {
    const kind = what === 'split' ? 'group-split' : 'group-consistent';
    const severity = what === 'split' ? 'critical' : 'info';
    const members = c.members.map((m) => ({
      scenarioId: m.scenarioId,
      name: m.name,
      side: m.side,
      activeNodeId: m.activeNodeId,
    }));
    const message =
      what === 'split'
        ? `group ${g.name} is split: ${c.reason}; run a group active-server recovery to keep one side`
        : `group ${g.name} is consistent again: ${c.reason}`;
    const details = { groupId: g.id, group: g.name, members };
    // The claim makes it once across instances: only the UPDATE that changes the row announces,
    // and the event is written in the same transaction (never a claim without its event).
    const claimedAt = await this.dataSource.transaction(async (m) => {
      const [claimed] = (await m.query(
        what === 'split'
          ? `UPDATE groups SET "splitAnnouncedAt" = now() WHERE id = $1 AND "splitAnnouncedAt" IS NULL RETURNING "splitAnnouncedAt"`
          : `UPDATE groups SET "splitAnnouncedAt" = NULL WHERE id = $1 AND "splitAnnouncedAt" IS NOT NULL RETURNING now() AS "splitAnnouncedAt"`,
        [g.id],
      )) as [{ splitAnnouncedAt: Date }[], number];
      if (!claimed.length) return null;
      await m
        .getRepository(EventEntity)
        .insert({ kind, severity, scenarioId: null, nodeId: null, message, details });
      return new Date(claimed[0].splitAnnouncedAt).getTime();
    });
    if (claimedAt === null) return;
    await this.notifications
      ?.publish(`${kind}.${g.id}.${claimedAt}`, {
        kind,
        severity,
        message,
        scenarioId: null,
        nodeId: null,
        details,
      })
      .catch((err: Error) => log.warn({ err: err.message }, 'webhook not queued'));
    if (what === 'split') log.error({ group: g.name }, message);
    else log.info({ group: g.name }, message);
  }

  private memberRows(groupId?: string): Promise<MemberRow[]> {
    return this.dataSource.query(
      `SELECT gm."groupId", s.id AS "scenarioId", s.name, s.state, s."activeNodeId", s."productionNodeId",
              (SELECT o.id FROM operations o
                WHERE o."scenarioId" = s.id AND o.state IN ('pending', 'running') LIMIT 1) AS "operationId"
         FROM group_members gm JOIN scenarios s ON s.id = gm."scenarioId"
        ${groupId ? 'WHERE gm."groupId" = $1' : ''}
        ORDER BY s.name`,
      groupId ? [groupId] : [],
    );
  }
}
