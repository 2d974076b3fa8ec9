import { Module } from '@nestjs/common';
import { OperationsModule } from '../operations/operations.module';
import { EventStreamController } from './event-stream.controller';
import { EventStreamService } from './event-stream.service';

/** Live streams of the event log and of operations (server-sent events). */
@Module({
  imports: [OperationsModule],
  controllers: [EventStreamController],
  providers: [EventStreamService],
  exports: [EventStreamService],
})
export class EventsModule {}
