import { parseArgs } from 'node:util';
import {
  DEFAULT_WRITER_NICE,
  createHostContext,
  loadConfig,
  lowerCpuPriority,
  parseNice,
  startHost,
  stopOnSignals,
} from '@maniac-gateway/runtime';
import { rebuildProjection } from './rebuild.js';
import { createWriter, writerOptionsFromEnv } from './writer.js';

/**
 * Standalone writer: `node dist/main.js [--config FILE]` serves /healthz, /readyz and /metrics on WRITER_PORT
 * (default 8082); WRITER_SESSION_TIMEOUT_MS, WRITER_FLUSH_INTERVAL_MS, WRITER_FETCH_MIN_BYTES and WRITER_FETCH_MAX_WAIT_MS
 * tune it (writerOptionsFromEnv); WRITER_NICE its CPU priority as a nice value (default 0: the priority it was started
 * with; see process-priority.ts). `--rebuild` replays the topic into fresh tables and swaps them in (see rebuild.ts),
 * then exits (at the priority it was started with).
 */
async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      config: { type: 'string' },
      rebuild: { type: 'boolean', default: false },
      'drop-old': { type: 'boolean', default: false },
    },
    allowPositionals: false,
  });
  const config = loadConfig({ path: values.config });
  const nice = values.rebuild ? null : parseNice(process.env.WRITER_NICE, 'WRITER_NICE', DEFAULT_WRITER_NICE);
  const ctx = createHostContext(config, 'writer');
  if (values.rebuild) {
    const result = await rebuildProjection(
      config,
      { logger: ctx.logger, metrics: ctx.metrics, kafka: ctx.kafka },
      { dropOld: values['drop-old'] },
    );
    ctx.logger.info(result, 'rebuild finished');
    process.exit(0);
  }
  // WRITER_NICE > 0: yields the CPU to ingest-api on a shared machine (requests first, rows later).
  if (nice) ctx.logger.info({ nice: lowerCpuPriority(nice) }, 'writer CPU priority (nice)');
  const writer = createWriter(config, {
    logger: ctx.logger,
    metrics: ctx.metrics,
    kafka: ctx.kafka,
    options: writerOptionsFromEnv(process.env),
  });
  const port = Number(process.env.WRITER_PORT ?? 8082);
  const host = await startHost(ctx, [writer], { host: config.server.host, port });
  stopOnSignals(host, ctx.logger, config.server.shutdown_grace_ms);
}

main().then(
  () => undefined,
  (err: unknown) => {
    console.error(err instanceof Error ? (err.stack ?? err.message) : String(err));
    process.exit(1);
  },
);
