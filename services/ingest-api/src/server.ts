// First: holds V8's young generation through start-up, then caps it (see the runtime's young-generation.ts).
import '@maniac-gateway/runtime/cap-young-generation';
import { createHostContext, loadConfig, startHost, stopOnSignals } from '@maniac-gateway/runtime';
import { IngestApi } from './app.js';

/** Standalone ingest-api: `node dist/server.js [--config path]`. */
const configPath = process.argv.includes('--config')
  ? process.argv[process.argv.indexOf('--config') + 1]
  : undefined;
const config = loadConfig({ path: configPath });
const ctx = createHostContext(config, 'ingest-api');
const host = await startHost(
  ctx,
  [new IngestApi(ctx)],
  { host: config.server.host, port: config.server.port },
  { servesChat: true },
);
stopOnSignals(host, ctx.logger, config.server.shutdown_grace_ms);
