import { Module } from '@nestjs/common';
import { ClusterModule } from '../cluster/cluster.module';
import { HeartbeatRoute } from './heartbeat-route';
import { HeartbeatUdpServer } from './heartbeat-udp.server';
import { HeartbeatStore } from './heartbeat.store';
import { HeartbeatsService } from './heartbeats.service';

// POST /api/v1/heartbeats is a plain Fastify route (heartbeat-route.ts), not a Nest controller.
@Module({
  imports: [ClusterModule],
  providers: [HeartbeatStore, HeartbeatsService, HeartbeatRoute, HeartbeatUdpServer],
  exports: [HeartbeatStore, HeartbeatsService, HeartbeatUdpServer],
})
export class HeartbeatsModule {}
