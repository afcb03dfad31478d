import { parseArgs } from 'node:util';
import { createHostContext, loadConfig, startHost, stopOnSignals } from '@maniac-gateway/runtime';
import { createWriter } from './writer.js';

/**
 * Standalone writer: `node dist/main.js [--config FILE]`. Serves /healthz, /readyz and /metrics on WRITER_PORT
 * (default 8082).
 */
async function main(): Promise<void> {
  const { values } = parseArgs({
    options: { config: { type: 'string' } },
    allowPositionals: false,
  });
  const config = loadConfig({ path: values.config });
  const ctx = createHostContext(config, 'writer');
  const writer = createWriter(config, { logger: ctx.logger, metrics: ctx.metrics, kafka: ctx.kafka });
  const port = Number(process.env.WRITER_PORT ?? 8082);
  const host = await startHost(ctx, [writer], { host: config.server.host, port });
  stopOnSignals(host, ctx.logger, config.server.shutdown_grace_ms);
}

main().catch((err: unknown) => {
  console.error(err instanceof Error ? (err.stack ?? err.message) : String(err));
  process.exit(1);
});
