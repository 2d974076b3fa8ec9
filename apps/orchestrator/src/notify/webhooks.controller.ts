import { Body, Controller, Delete, Get, HttpCode, Param, Patch, Post, Query } from '@nestjs/common';
import { ApiBearerAuth, ApiOperation, ApiResponse, ApiTags } from '@nestjs/swagger';
import { CurrentPrincipal, MinRole } from '../auth/auth.decorators';
import { actorOf, Principal } from '../auth/principal';
import { PaginationQuery } from '../common/dtos/pagination.dto';
import { UuidParamPipe } from '../common/validation';
import {
  CreateWebhookDto,
  DeliveryPage,
  DeliveryView,
  ListDeliveriesQuery,
  RedeliverDto,
  UpdateWebhookDto,
  WebhookPage,
  WebhookView,
} from './dtos/webhook.dto';
import { WebhooksService } from './webhooks.service';

@ApiTags('webhooks')
@ApiBearerAuth()
@MinRole('admin')
@Controller('api/v1/webhooks')
export class WebhooksController {
  constructor(private readonly webhooks: WebhooksService) {}

  @Post()
  @ApiOperation({
    summary:
      'Subscribe a URL to events (kinds, one scenario or one group); deliveries signed with the secret',
  })
  @ApiResponse({ status: 201, type: WebhookView })
  @ApiResponse({ status: 400, description: 'bad URL, unknown kind, unknown scenarioId/groupId, both given' })
  @ApiResponse({ status: 409, description: 'name already used' })
  create(@Body() dto: CreateWebhookDto, @CurrentPrincipal() p: Principal): Promise<WebhookView> {
    return this.webhooks.create(dto, actorOf(p));
  }

  @Get()
  @ApiOperation({ summary: 'List webhook subscriptions (never their secrets)' })
  @ApiResponse({ status: 200, type: WebhookPage })
  list(@Query() q: PaginationQuery): Promise<WebhookPage> {
    return this.webhooks.list(q);
  }

  @Get(':id')
  @ApiOperation({ summary: 'One webhook subscription' })
  @ApiResponse({ status: 200, type: WebhookView })
  @ApiResponse({ status: 404, description: 'unknown webhook' })
  get(@Param('id', UuidParamPipe) id: string): Promise<WebhookView> {
    return this.webhooks.get(id);
  }

  @Patch(':id')
  @ApiOperation({ summary: 'Change a subscription (URL, kinds, scope, secret, enabled, retries, timeout)' })
  @ApiResponse({ status: 200, type: WebhookView })
  @ApiResponse({ status: 404, description: 'unknown webhook' })
  update(
    @Param('id', UuidParamPipe) id: string,
    @Body() dto: UpdateWebhookDto,
    @CurrentPrincipal() p: Principal,
  ): Promise<WebhookView> {
    return this.webhooks.update(id, dto, actorOf(p));
  }

  @Delete(':id')
  @HttpCode(204)
  @ApiOperation({ summary: 'Delete a subscription and its delivery log' })
  @ApiResponse({ status: 204 })
  @ApiResponse({ status: 404, description: 'unknown webhook' })
  async remove(@Param('id', UuidParamPipe) id: string, @CurrentPrincipal() p: Principal): Promise<void> {
    await this.webhooks.remove(id, actorOf(p));
  }

  @Post(':id/ping')
  @HttpCode(202)
  @ApiOperation({ summary: 'Send a ping event to this subscription now (whatever its kinds)' })
  @ApiResponse({ status: 202, type: DeliveryView })
  @ApiResponse({ status: 409, description: 'the subscription is disabled' })
  ping(@Param('id', UuidParamPipe) id: string, @CurrentPrincipal() p: Principal): Promise<DeliveryView> {
    return this.webhooks.ping(id, actorOf(p));
  }

  @Get(':id/deliveries')
  @ApiOperation({
    summary:
      'Delivery log, newest first: state (succeeded, retrying, dead, …), response code, latency, attempts',
  })
  @ApiResponse({ status: 200, type: DeliveryPage })
  deliveries(@Param('id', UuidParamPipe) id: string, @Query() q: ListDeliveriesQuery): Promise<DeliveryPage> {
    return this.webhooks.listDeliveries(id, q);
  }

  @Get(':id/deliveries/:deliveryId')
  @ApiOperation({ summary: 'One delivery, with the body sent' })
  @ApiResponse({ status: 200, type: DeliveryView })
  @ApiResponse({ status: 404, description: 'unknown webhook or delivery' })
  delivery(
    @Param('id', UuidParamPipe) id: string,
    @Param('deliveryId', UuidParamPipe) deliveryId: string,
  ): Promise<DeliveryView> {
    return this.webhooks.getDelivery(id, deliveryId);
  }

  @Post(':id/deliveries/:deliveryId/redeliver')
  @HttpCode(202)
  @ApiOperation({ summary: 'Send a delivery again (same body and X-HA-Event-Id), as a new delivery' })
  @ApiResponse({ status: 202, type: DeliveryView })
  @ApiResponse({ status: 404, description: 'unknown webhook or delivery' })
  @ApiResponse({ status: 409, description: 'still being sent, or the subscription is disabled' })
  redeliver(
    @Param('id', UuidParamPipe) id: string,
    @Param('deliveryId', UuidParamPipe) deliveryId: string,
    @Body() dto: RedeliverDto,
    @CurrentPrincipal() p: Principal,
  ): Promise<DeliveryView> {
    return this.webhooks.redeliver(id, deliveryId, actorOf(p), dto.reason);
  }
}
