import {
  CanActivate,
  ExecutionContext,
  ForbiddenException,
  Injectable,
  UnauthorizedException,
} from '@nestjs/common';
import { Reflector } from '@nestjs/core';
import { logContext } from '../common/logger';
import { ApiRole } from './api-token.entity';
import { AGENT_KEY, ALERTER_KEY, MIN_ROLE_KEY, PUBLIC_KEY, STREAM_TICKET_KEY } from './auth.decorators';
import { AuthService } from './auth.service';
import { actorOf, Principal, ROLE_RANK } from './principal';

/** Global guard: bearer token → principal; role rank or agent-only checks from decorators. */
@Injectable()
export class AuthGuard implements CanActivate {
  constructor(
    private readonly reflector: Reflector,
    private readonly auth: AuthService,
  ) {}

  async canActivate(ctx: ExecutionContext): Promise<boolean> {
    const targets = [ctx.getHandler(), ctx.getClass()];
    if (this.reflector.getAllAndOverride<boolean>(PUBLIC_KEY, targets)) return true;
    const request = ctx.switchToHttp().getRequest();
    const header: string | undefined = request.headers?.authorization;
    const match = header ? /^Bearer\s+(\S+)$/i.exec(header) : null;
    let principal: Principal | null;
    const ticket: unknown = request.query?.ticket;
    if (
      !match &&
      typeof ticket === 'string' &&
      this.reflector.getAllAndOverride<boolean>(STREAM_TICKET_KEY, targets)
    ) {
      principal = await this.auth.resolveStreamTicket(ticket);
      if (!principal) throw new UnauthorizedException('invalid or expired stream ticket');
    } else {
      if (!match) throw new UnauthorizedException('missing bearer token');
      principal = await this.auth.resolve(match[1]);
      if (!principal) throw new UnauthorizedException('invalid or revoked token');
    }
    request.principal = principal;
    const store = logContext.getStore();
    if (store) store.actor = actorOf(principal);

    const agentOnly = this.reflector.getAllAndOverride<boolean>(AGENT_KEY, targets);
    if (agentOnly) {
      if (principal.kind !== 'agent') throw new ForbiddenException('this endpoint takes a node agent token');
      return true;
    }
    if (principal.kind === 'agent') throw new ForbiddenException('agent tokens may only post heartbeats');
    if (principal.role === 'alerter') {
      if (this.reflector.getAllAndOverride<boolean>(ALERTER_KEY, targets)) return true;
      throw new ForbiddenException('alerter tokens may only post alerts');
    }
    const minRole = this.reflector.getAllAndOverride<ApiRole>(MIN_ROLE_KEY, targets) ?? 'admin';
    if (ROLE_RANK[principal.role] < ROLE_RANK[minRole]) {
      throw new ForbiddenException(`requires role ${minRole} or higher; token has ${principal.role}`);
    }
    return true;
  }
}
