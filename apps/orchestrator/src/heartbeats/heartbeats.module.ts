import { Module } from '@nestjs/common';
import { HeartbeatStore } from './heartbeat.store';
import { HeartbeatsController } from './heartbeats.controller';
import { HeartbeatsService } from './heartbeats.service';

@Module({
  controllers: [HeartbeatsController],
  providers: [HeartbeatStore, HeartbeatsService],
  exports: [HeartbeatStore, HeartbeatsService],
})
export class HeartbeatsModule {}
