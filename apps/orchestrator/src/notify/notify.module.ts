import { Global, Module } from '@nestjs/common';
import { NotificationsService } from './notifications.service';
import { WebhooksController } from './webhooks.controller';
import { WebhooksService } from './webhooks.service';

@Global()
@Module({
  controllers: [WebhooksController],
  providers: [NotificationsService, WebhooksService],
  exports: [NotificationsService],
})
export class NotifyModule {}
