import { Body, Controller, Delete, Get, HttpCode, Param, Post, Query } from '@nestjs/common';
import { ApiBearerAuth, ApiOperation, ApiResponse, ApiTags } from '@nestjs/swagger';
import { CurrentPrincipal, MinRole } from './auth.decorators';
import { CreateTokenDto, ListTokensQuery, TokenCreatedView, TokenPage, TokenView } from './dtos/token.dto';
import { actorOf, Principal } from './principal';
import { UuidParamPipe } from '../common/validation';
import { TokensService } from './tokens.service';

@ApiTags('tokens')
@ApiBearerAuth()
@MinRole('admin')
@Controller('api/v1/tokens')
export class TokensController {
  constructor(private readonly tokens: TokensService) {}

  @Post()
  @ApiOperation({ summary: 'Create an API token; the token is returned once and stored only as its sha256' })
  @ApiResponse({ status: 201, type: TokenCreatedView })
  @ApiResponse({ status: 409, description: 'name already used (also by a revoked token)' })
  create(@Body() dto: CreateTokenDto, @CurrentPrincipal() p: Principal): Promise<TokenCreatedView> {
    return this.tokens.create(dto, actorOf(p));
  }

  @Get()
  @ApiOperation({
    summary: 'List API tokens (never their secrets); revoked ones only with includeRevoked=true',
  })
  @ApiResponse({ status: 200, type: TokenPage })
  list(@Query() q: ListTokensQuery): Promise<TokenPage> {
    return this.tokens.list(q);
  }

  @Get(':id')
  @ApiOperation({ summary: 'One API token (never its secret)' })
  @ApiResponse({ status: 200, type: TokenView })
  @ApiResponse({ status: 404, description: 'unknown token' })
  get(@Param('id', UuidParamPipe) id: string): Promise<TokenView> {
    return this.tokens.get(id);
  }

  @Delete(':id')
  @HttpCode(204)
  @ApiOperation({
    summary: 'Revoke an API token (it stops working at once; the row stays for the audit trail)',
  })
  @ApiResponse({ status: 204, description: 'revoked (or already revoked)' })
  @ApiResponse({ status: 404, description: 'unknown token' })
  async revoke(@Param('id', UuidParamPipe) id: string, @CurrentPrincipal() p: Principal): Promise<void> {
    await this.tokens.revoke(id, actorOf(p));
  }
}
