import type { HostContext, HostedComponent } from '@maniac-gateway/runtime';
import { IngestApi } from '@maniac-gateway/ingest-api';
import { QueryApi } from '@maniac-gateway/query-api';
import { createWriter, writerOptionsFromEnv } from '@maniac-gateway/writer';

/**
 * Every service of the gateway as components of one process (`maniac-gateway start`, `npm start`). The writer
 * starts first so its migrations have created the tables before the read side serves.
 */
export function composeComponents(ctx: HostContext): HostedComponent[] {
  return [
    createWriter(ctx.config, {
      logger: ctx.logger,
      metrics: ctx.metrics,
      kafka: ctx.kafka,
      options: writerOptionsFromEnv(process.env),
    }),
    new IngestApi(ctx),
    new QueryApi(ctx),
  ];
}
