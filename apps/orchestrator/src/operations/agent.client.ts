/**
 * Calls node agents' action API. The orchestrator only ever names an action; what it runs is in
 * the agent's own config. Errors are typed so steps can tell "agent said no" (unrecoverable)
 * from "agent did not answer" (retry, or fence by other means).
 */
import { Injectable } from '@nestjs/common';
import { ActionRequest, ActionResponse, AgentAction } from '@ha/contracts';
import { DomainError, StaleEpochError, TransientError } from '../common/errors';
import { NodesService } from '../nodes/nodes.service';

export class AgentUnreachableError extends TransientError {
  constructor(
    readonly nodeName: string,
    cause: string,
  ) {
    super(`agent of ${nodeName} unreachable: ${cause}`, { node: nodeName });
  }
}

export class AgentRefusedError extends DomainError {
  readonly status = 502;
  readonly code = 'agent_refused';
}

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
    req: ActionRequest,
    timeoutMs = 30_000,
  ): Promise<ActionResponse> {
    const node = await this.nodes.getWithSecrets(nodeId);
    const res = await this.send(
      node.name,
      `${node.agentUrl}/actions/${action}`,
      node.actionToken,
      timeoutMs,
      req,
    );
    const body = res.body as Record<string, unknown>;
    if (res.status === 200) return body as unknown as ActionResponse;
    if (res.status === 409) {
      throw new StaleEpochError(Number(body?.currentEpoch ?? NaN), req.epoch, `${action} on ${node.name}`);
    }
    throw new AgentRefusedError(
      `agent of ${node.name} answered ${res.status} to ${action}: ${String(body?.message ?? '')}`,
      {
        node: node.name,
        status: res.status,
      },
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
      parsed = text ? JSON.parse(text) : {};
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
