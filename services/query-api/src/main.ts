import { createHostContext, loadConfig, startHost, stopOnSignals } from '@maniac-gateway/runtime';
import { QueryApi } from './app.js';

/** Standalone query-api: `node dist/main.js [--config FILE]` on QUERY_API_PORT (default 8081). */
const configPath = process.argv.includes('--config')
  ? process.argv[process.argv.indexOf('--config') + 1]
  : undefined;
const config = loadConfig({ path: configPath });
const ctx = createHostContext(config, 'query-api');
const host = await startHost(ctx, [new QueryApi(ctx)], {
  host: config.server.host,
  port: Number(process.env.QUERY_API_PORT ?? 8081),
});
stopOnSignals(host, ctx.logger, config.server.shutdown_grace_ms);
