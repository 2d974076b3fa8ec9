/**
 * Calls node agents' action API. The orchestrator only ever names an action; what it runs is in
 * the agent's own config. Errors are typed so steps can tell "agent said no" (unrecoverable)
 * from "agent did not answer" (retry, or fence by other means).
 */
import { Injectable } from '@nestjs/common';
import { ActionRequest, ActionResponse, AgentAction } from '@ha/contracts';
import { DomainError, StaleEpochError, TransientError } from '../common/errors';
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

@Injectable()
export class AgentClient {
  constructor(private readonly nodes: NodesService) {}

  async action(
    nodeId: string,
    action: AgentAction,
    req: AgentActionRequest,
    timeoutMs = 30_000,
  ): Promise<ActionResponse> {
    const node = await this.nodes.getWithSecrets(nodeId);
    // We stop waiting at the deadline, so the agent must not start the action after it either
    // (a paused agent reading this request late would otherwise act on an abandoned decision).
    const body: ActionRequest = { ...req, deadline: Date.now() + timeoutMs };
    const res = await this.send(
      node.name,
      `${node.agentUrl}/actions/${action}`,
      node.actionToken,
      timeoutMs,
      body,
    );
    const answer = res.body as Record<string, unknown>;
    if (res.status === 200) return answer as unknown as ActionResponse;
    const reason = typeof answer?.reason === 'string' ? answer.reason : undefined;
    if (
      res.status === 409 &&
      (reason === 'stale_epoch' || (reason === undefined && 'currentEpoch' in (answer ?? {})))
    ) {
      throw new StaleEpochError(Number(answer?.currentEpoch ?? NaN), req.epoch, `${action} on ${node.name}`);
    }
    if (reason === 'epoch_not_issued') {
      // The agent could not confirm our epoch with an orchestrator yet (or read an older one from a
      // lagging instance): nothing ran; try again.
      throw new AgentEpochUnconfirmedError(`agent of ${node.name} has not confirmed epoch ${req.epoch} yet`, {
        node: node.name,
        reason,
      });
    }
    throw new AgentRefusedError(
      `agent of ${node.name} answered ${res.status} to ${action}: ${String(answer?.message ?? '')}`,
      { node: node.name, status: res.status, reason: reason ?? null },
    );
  }

  async status(nodeId: string, timeoutMs = 2000): Promise<AgentStatus> {
    const node = await this.nodes.getWithSecrets(nodeId);
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
