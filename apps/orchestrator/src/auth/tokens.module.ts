import { Module } from '@nestjs/common';
import { TypeOrmModule } from '@nestjs/typeorm';
import { ApiTokenEntity } from './api-token.entity';
import { TokensController } from './tokens.controller';
import { TokensService } from './tokens.service';

/** API token management; token resolution itself (AuthService) lives in CoreModule. */
@Module({
  imports: [TypeOrmModule.forFeature([ApiTokenEntity])],
  controllers: [TokensController],
  providers: [TokensService],
})
export class TokensModule {}
