/**
 * Calls node agents' action API. The orchestrator only ever names an action; what it runs is in
 * the agent's own config. Errors are typed so steps can tell "agent said no" (unrecoverable)
 * from "agent did not answer" (retry, or fence by other means).
 */
import { Injectable } from '@nestjs/common';
import {
  ActionBatchResponse,
  ActionRequest,
  ActionResponse,
  AgentAction,
  MAX_ACTION_BATCH,
} from '@ha/contracts';
import { KeyedBatcher, TickLoader } from '../common/coalesce';
import { DomainError, NotFoundError, StaleEpochError, TransientError } from '../common/errors';
import { NodeEntity } from '../nodes/node.entity';
import { jsonbSafeDeep } from '../heartbeats/jsonb-safe';
import { NodesService } from '../nodes/nodes.service';

export class AgentUnreachableError extends TransientError {
  constructor(
    readonly nodeName: string,
    cause: string,
  ) {
    super(`agent of ${nodeName} unreachable: ${cause}`, { node: nodeName });
  }
}

/** A batched action still ran on the agent when its answer was due: retry (the stepId replays). */
export class AgentActionInProgressError extends TransientError {}

/** The agent could not confirm our epoch with an orchestrator (yet): nothing ran. */
export class AgentEpochUnconfirmedError extends TransientError {}

export class AgentRefusedError extends DomainError {
  readonly status = 502;
  readonly code = 'agent_refused';
}

/** What a step passes; the client adds the deadline from the timeout it waits. */
export type AgentActionRequest = Omit<ActionRequest, 'deadline'>;

export interface AgentStatus {
  nodeId?: string;
  scenarios?:
    Record<string, { role: string; epoch: number }> | { scenarioId: string; role: string; epoch: number }[];
  replicaLagSeconds?: number | null;
  [key: string]: unknown;
}

/** An agent's peer views: peer node id (lower case) → orchestrator time last heard, null = never. */
export interface AgentPeerViews {
  node: string;
  seenAt: Map<string, number | null>;
  /** orchestrator time (upper bound) when the agent started: it knows nothing it heard before; null = not said */
  startedAt: number | null;
}

@Injectable()
export class AgentClient {
  /** Node look-ups of concurrent calls (a batch step) go out as one query. */
  private readonly nodeLoader: TickLoader<NodeEntity>;
  /** Concurrent status calls to one agent share one request (never an answer older than the call). */
  private readonly statusCalls: KeyedBatcher<string, number, AgentStatus>;
  /** Concurrent peer-view calls to one agent share one request, sent after the last of them. */
  private readonly peerViewCalls: KeyedBatcher<string, number, AgentPeerViews>;
  /** Concurrent action calls per node, action and timeout: one batch request each round. */
  private readonly actionCalls = new KeyedBatcher<string, ActionRequest, ActionResponse>(
    (key, bodies) => this.runActions(key, bodies),
    MAX_ACTION_BATCH,
  );
  /** Agents that answered 404 to the batch route, until when they are asked one by one. */
  private readonly noBatchRoute = new Map<string, number>();

  constructor(private readonly nodes: NodesService) {
    this.nodeLoader = new TickLoader((ids) => this.nodes.manyWithSecrets(ids));
    this.peerViewCalls = new KeyedBatcher(async (nodeId, timeouts) => {
      const views = await this.peerViewsOnce(nodeId, Math.max(...timeouts));
      return timeouts.map(() => views);
    });
    this.statusCalls = new KeyedBatcher(async (nodeId, timeouts) => {
      const status = await this.statusOnce(nodeId, Math.max(...timeouts));
      return timeouts.map(() => status);
    });
  }

  private async node(id: string): Promise<NodeEntity> {
    const node = await this.nodeLoader.load(id);
    if (!node) throw new NotFoundError('node', id);
    return node;
  }

  /**
   * Runs `action` on the node's agent. Concurrent calls for the same node, action and timeout (the
   * steps of a batch) go out together as one POST /actions/{action}/batch; each request keeps its
   * own stepId, epoch and deadline and gets its own answer or error, exactly as alone. An agent
   * without the batch route gets them one by one.
   */
  action(
    nodeId: string,
    action: AgentAction,
    req: AgentActionRequest,
    timeoutMs = 30_000,
  ): Promise<ActionResponse> {
    // We stop waiting at the deadline, so the agent must not start the action after it either
    // (a paused agent reading this request late would otherwise act on an abandoned decision).
    const body: ActionRequest = { ...req, deadline: Date.now() + timeoutMs };
    return this.actionCalls.call(`${nodeId} ${action} ${timeoutMs}`, body);
  }

  private async runActions(key: string, bodies: ActionRequest[]): Promise<(ActionResponse | Error)[]> {
    const [nodeId, action, timeout] = key.split(' ') as [string, AgentAction, string];
    const node = await this.node(nodeId);
    // The agent answers each request by its own deadline (`in_progress` if it still runs), so the
    // call ends by the latest one; a little margin for the answer to travel.
    const timeoutMs = Math.max(1, Math.max(...bodies.map((b) => b.deadline)) - Date.now()) + 1000;
    const noBatch = this.noBatchRoute.get(nodeId);
    if (bodies.length === 1 || (noBatch !== undefined && noBatch > Date.now())) {
      return Promise.all(
        bodies.map((b) => this.actionOnce(node, action, b, Number(timeout)).catch((e: Error) => e)),
      );
    }
    const res = await this.send(
      node.name,
      `${node.agentUrl}/actions/${action}/batch`,
      node.actionToken,
      timeoutMs,
      { requests: bodies },
    );
    const answer = res.body as Partial<ActionBatchResponse> & Record<string, unknown>;
    if (res.status === 200 && Array.isArray(answer?.results) && answer.results.length === bodies.length) {
      return answer.results.map((r, i) => {
        if (r && r.ok === true) {
          const { ok: _ok, ...response } = r;
          return response as ActionResponse;
        }
        const e = (r ?? {}) as unknown as Record<string, unknown>;
        return this.refusal(node.name, action, bodies[i].epoch, Number(e.statusCode ?? 502), e);
      });
    }
    if (res.status === 404 && /no route/.test(String(answer?.message ?? ''))) {
      // An agent from before batches: one by one, and do not ask it again for a while.
      this.noBatchRoute.set(nodeId, Date.now() + 60_000);
      return Promise.all(
        bodies.map((b) => this.actionOnce(node, action, b, Number(timeout)).catch((e: Error) => e)),
      );
    }
    const err = this.refusal(node.name, action, bodies[0].epoch, res.status, answer ?? {});
    return bodies.map(() => err);
  }

  private async actionOnce(
    node: NodeEntity,
    action: AgentAction,
    body: ActionRequest,
    timeoutMs: number,
  ): Promise<ActionResponse> {
    const res = await this.send(
      node.name,
      `${node.agentUrl}/actions/${action}`,
      node.actionToken,
      timeoutMs,
      body,
    );
    const answer = res.body as Record<string, unknown>;
    if (res.status === 200) return answer as unknown as ActionResponse;
    throw this.refusal(node.name, action, body.epoch, res.status, answer ?? {});
  }

  /** The typed error for an agent's refusal of one request (status and error body). */
  private refusal(
    nodeName: string,
    action: AgentAction,
    epoch: number,
    status: number,
    answer: Record<string, unknown>,
  ): Error {
    const reason = typeof answer?.reason === 'string' ? answer.reason : undefined;
    if (status === 409 && (reason === 'stale_epoch' || (reason === undefined && 'currentEpoch' in answer))) {
      return new StaleEpochError(Number(answer?.currentEpoch ?? NaN), epoch, `${action} on ${nodeName}`);
    }
    if (reason === 'in_progress') {
      return new AgentActionInProgressError(`${action} on ${nodeName} is still running`, {
        node: nodeName,
        reason,
      });
    }
    if (reason === 'epoch_not_issued') {
      // The agent could not confirm our epoch with an orchestrator yet (or read an older one from a
      // lagging instance): nothing ran; try again.
      return new AgentEpochUnconfirmedError(`agent of ${nodeName} has not confirmed epoch ${epoch} yet`, {
        node: nodeName,
        reason,
      });
    }
    return new AgentRefusedError(
      `agent of ${nodeName} answered ${status} to ${action}: ${String(answer?.message ?? '')}`,
      { node: nodeName, status, reason: reason ?? null },
    );
  }

  status(nodeId: string, timeoutMs = 2000): Promise<AgentStatus> {
    return this.statusCalls.call(nodeId, timeoutMs);
  }

  /**
   * How the node's agent hears its peers, asked now: `seenAt` (orchestrator clock) is an upper
   * bound of when it last heard each one (the answer's arrival minus its lastSeenMsAgo).
   */
  peerViews(nodeId: string, timeoutMs = 2000): Promise<AgentPeerViews> {
    return this.peerViewCalls.call(nodeId, timeoutMs);
  }

  private async peerViewsOnce(nodeId: string, timeoutMs: number): Promise<AgentPeerViews> {
    const node = await this.node(nodeId);
    let res = await this.send(node.name, `${node.agentUrl}/peer/views`, node.actionToken, timeoutMs);
    // An agent from before /peer/views: its status carries the same views.
    if (res.status === 404)
      res = await this.send(node.name, `${node.agentUrl}/status`, node.actionToken, timeoutMs);
    const arrived = Date.now();
    const body = res.body as { peerViews?: unknown; upForMs?: unknown } | undefined;
    if (res.status !== 200 || !Array.isArray(body?.peerViews)) {
      throw new AgentRefusedError(`agent of ${node.name} answered ${res.status} to peer views`, {
        node: node.name,
      });
    }
    const views = new Map<string, number | null>();
    for (const v of body.peerViews as { nodeId?: unknown; lastSeenMsAgo?: unknown }[]) {
      if (typeof v?.nodeId !== 'string') continue;
      const ago = v.lastSeenMsAgo;
      views.set(
        v.nodeId.toLowerCase(),
        typeof ago === 'number' && Number.isFinite(ago) ? arrived - Math.max(0, ago) : null,
      );
    }
    const up = body.upForMs;
    return {
      node: node.name,
      seenAt: views,
      startedAt: typeof up === 'number' && Number.isFinite(up) ? arrived - Math.max(0, up) : null,
    };
  }

  private async statusOnce(nodeId: string, timeoutMs: number): Promise<AgentStatus> {
    const node = await this.node(nodeId);
    const res = await this.send(node.name, `${node.agentUrl}/status`, node.actionToken, timeoutMs);
    if (res.status !== 200) {
      throw new AgentRefusedError(`agent of ${node.name} answered ${res.status} to status`, {
        node: node.name,
      });
    }
    return res.body as AgentStatus;
  }

  private async send(
    nodeName: string,
    url: string,
    token: string,
    timeoutMs: number,
    body?: unknown,
  ): Promise<{ status: number; body: unknown }> {
    let res: Response;
    try {
      res = await fetch(url, {
        method: body === undefined ? 'GET' : 'POST',
        headers: {
          authorization: `Bearer ${token}`,
          ...(body === undefined ? {} : { 'content-type': 'application/json' }),
        },
        body: body === undefined ? undefined : JSON.stringify(body),
        signal: AbortSignal.timeout(timeoutMs),
      });
    } catch (err) {
      const e = err as Error & { cause?: { code?: string } };
      throw new AgentUnreachableError(nodeName, e.cause?.code ?? e.name ?? e.message);
    }
    const text = await res.text().catch(() => '');
    let parsed: unknown = text;
    try {
      // Script output and whatever else an agent says ends up in step outputs (jsonb) and logs:
      // NUL and lone surrogates are repaired here, whatever the agent's version does.
      parsed = text ? jsonbSafeDeep(JSON.parse(text)) : {};
    } catch {
      /* keep text */
    }
    return { status: res.status, body: parsed };
  }
}

/** Role/epoch an agent reports for one scenario, whichever shape its /status uses. */
export function scenarioRoleFromStatus(
  s: AgentStatus,
  scenarioId: string,
): { role: string; epoch: number } | null {
  const sc = s.scenarios;
  if (!sc) return null;
  if (Array.isArray(sc)) return sc.find((x) => x.scenarioId === scenarioId) ?? null;
  return sc[scenarioId] ?? null;
}
