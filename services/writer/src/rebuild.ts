import type { ClickHouseClient } from '@clickhouse/client';
import {
  createClickHouse,
  createKafka,
  sqlIdentifier,
  sqlString,
  type GatewayConfig,
  type Kafka,
  type Logger,
  type Metrics,
} from '@maniac-gateway/runtime';
import { loadMigrations, migrate, renderMigration, splitStatements } from './migrate.js';
import { CompletionWriter, defaultWriterOptions } from './writer.js';

/**
 * `writer --rebuild`: ClickHouse is a projection of the completions topic, so it can be rebuilt from scratch —
 * to repair it, or after re-modelling the tables.
 *
 *  1. Replay: a fresh set of tables in `<db>_rebuild` (the same migrations), filled by a writer on its own
 *     consumer group from the beginning of the topic. The live writer and query-api keep running meanwhile.
 *  2. Hand-over: once the replay has caught up, the rebuild waits until the live writer's consumer group is
 *     empty (stop the live writer), catches up the last events, and stops.
 *  3. Swap: one `RENAME TABLE` statement moves the live tables to `<db>_old` and the rebuilt ones into `<db>`
 *     (readers see the old set or the new one, never a mix); the materialized views are re-created on the new
 *     tables (view dependencies are name-based on 18.16 and follow renames on current releases, so they are
 *     always rebuilt explicitly). `<db>_old` is kept as a backup unless `dropOld`.
 *  4. Start the live writer again: it resumes from the rebuilt `kafka_offsets`, exactly where the replay stopped.
 */

export interface RebuildOptions {
  /** Consumer group of the live writer (default: the writer's default group id). */
  liveGroupId?: string;
  progressIntervalMs?: number;
  /** Give up waiting for the live writer to stop after this long (default: wait forever). */
  handoverTimeoutMs?: number;
  dropOld?: boolean;
  batchMaxRows?: number;
}

export interface RebuildResult {
  events: number;
  durationMs: number;
  eventsPerSecond: number;
  oldDatabase: string | null;
}

export interface RebuildDeps {
  logger: Logger;
  metrics: Metrics;
  kafka?: Kafka;
  clickhouse?: ClickHouseClient;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

async function rowsOf<T>(client: ClickHouseClient, query: string): Promise<T[]> {
  const rs = await client.query({ query, format: 'JSONEachRow' });
  return rs.json<T>();
}

/** The CREATE MATERIALIZED VIEW statements of the migrations, for `database`. */
export function viewStatements(database: string): string[] {
  return loadMigrations()
    .flatMap((m) => splitStatements(renderMigration(m.template, database)))
    .filter((s) => /^CREATE\s+MATERIALIZED\s+VIEW/i.test(s.replace(/--.*$/gm, '').trim()));
}

export async function rebuildProjection(
  config: GatewayConfig,
  deps: RebuildDeps,
  options: RebuildOptions = {},
): Promise<RebuildResult> {
  const logger = deps.logger.child({ component: 'rebuild' });
  const live = sqlIdentifier(config.clickhouse.database);
  const fresh = sqlIdentifier(`${live}_rebuild`);
  const old = sqlIdentifier(`${live}_old`);
  const topic = config.kafka.topics.completions;
  const defaults = defaultWriterOptions(config);
  const liveGroupId = options.liveGroupId ?? defaults.groupId;
  const rebuildGroupId = `${liveGroupId}-rebuild`;
  const progressMs = options.progressIntervalMs ?? 5_000;
  const kafka =
    deps.kafka ??
    createKafka({ brokers: config.kafka.brokers, clientId: `${config.kafka.client_id}-rebuild`, logger });
  const clickhouse =
    deps.clickhouse ?? createClickHouse(config.clickhouse, { requestTimeoutMs: 300_000, keepAlive: false });
  const admin = kafka.admin();
  await admin.connect();
  const started = Date.now();
  let writer: CompletionWriter | null = null;
  try {
    logger.info({ database: fresh, topic }, 'rebuild: replaying the topic into a fresh set of tables');
    await clickhouse.command({ query: `DROP DATABASE IF EXISTS ${fresh}` });
    await migrate(clickhouse, { database: fresh, logger });
    await admin.deleteGroups([rebuildGroupId]).catch(() => undefined);
    writer = new CompletionWriter(config, {
      logger: deps.logger,
      metrics: deps.metrics,
      kafka,
      clickhouse,
      options: {
        database: fresh,
        groupId: rebuildGroupId,
        migrate: false,
        ensureTopics: false,
        batchMaxRows: options.batchMaxRows ?? 10_000,
      },
    });
    await writer.start();

    const progress = async (): Promise<{ stored: number; lag: number }> => {
      const [stored, watermarks] = await Promise.all([
        rowsOf<{ partition: number; last: string }>(
          clickhouse,
          `SELECT kafka_partition AS partition, toString(max(last_offset)) AS last FROM ${fresh}.kafka_offsets
           WHERE kafka_topic = ${sqlString(topic)} GROUP BY kafka_partition`,
        ),
        admin.fetchTopicOffsets(topic),
      ]);
      const next = new Map(stored.map((s) => [Number(s.partition), Number(s.last) + 1]));
      let done = 0;
      let lag = 0;
      for (const w of watermarks) {
        const low = Number(w.low);
        const position = Math.max(next.get(w.partition) ?? low, low);
        done += position - low;
        lag += Math.max(0, Number(w.high) - position);
      }
      return { stored: done, lag };
    };

    const catchUp = async (phase: string): Promise<number> => {
      let lastReport = Date.now();
      let lastStored = 0;
      for (;;) {
        const { stored, lag } = await progress();
        if (lag === 0 && (await writer!.drained())) return stored;
        if (Date.now() - lastReport >= progressMs) {
          const rate = Math.round(((stored - lastStored) * 1000) / (Date.now() - lastReport));
          logger.info({ phase, events: stored, eventsPerSecond: rate, lag }, 'rebuild progress');
          lastReport = Date.now();
          lastStored = stored;
        }
        await sleep(200);
      }
    };

    await catchUp('replay');
    logger.info({ liveGroupId }, 'rebuild: caught up; waiting for the live writer to stop before swapping');
    const handoverDeadline =
      options.handoverTimeoutMs === undefined ? Infinity : Date.now() + options.handoverTimeoutMs;
    let lastNotice = 0;
    for (;;) {
      const [group] = (await admin.describeGroups([liveGroupId])).groups;
      if (!group || group.members.length === 0) break;
      if (Date.now() > handoverDeadline)
        throw new Error('live writer still running: stop it so the rebuild can swap');
      if (Date.now() - lastNotice > 10_000) {
        logger.info(
          { liveGroupId, members: group.members.length },
          'rebuild: stop the live writer to swap in',
        );
        lastNotice = Date.now();
      }
      await sleep(500);
    }
    const events = await catchUp('final');
    await writer.stop();
    writer = null;

    // Swap.
    const tables = (
      await rowsOf<{ name: string }>(
        clickhouse,
        `SELECT name FROM system.tables WHERE database = ${sqlString(fresh)} AND engine != 'MaterializedView'`,
      )
    ).map((t) => sqlIdentifier(t.name));
    const liveTables = new Set(
      (
        await rowsOf<{ name: string }>(
          clickhouse,
          `SELECT name FROM system.tables WHERE database = ${sqlString(live)} AND engine != 'MaterializedView'`,
        )
      ).map((t) => t.name),
    );
    const views = await rowsOf<{ database: string; name: string }>(
      clickhouse,
      `SELECT database, name FROM system.tables
       WHERE database IN (${sqlString(live)}, ${sqlString(fresh)}) AND engine = 'MaterializedView'`,
    );
    await clickhouse.command({ query: `DROP DATABASE IF EXISTS ${old}` });
    await clickhouse.command({ query: `CREATE DATABASE ${old}` });
    for (const v of views) {
      await clickhouse.command({
        query: `DROP TABLE IF EXISTS ${sqlIdentifier(v.database)}.${sqlIdentifier(v.name)}`,
      });
    }
    const renames = tables.flatMap((t) => [
      ...(liveTables.has(t) ? [`${live}.${t} TO ${old}.${t}`] : []),
      `${fresh}.${t} TO ${live}.${t}`,
    ]);
    await clickhouse.command({ query: `RENAME TABLE ${renames.join(', ')}` });
    for (const statement of viewStatements(live)) await clickhouse.command({ query: statement });
    await clickhouse.command({ query: `DROP DATABASE IF EXISTS ${fresh}` });
    if (options.dropOld) await clickhouse.command({ query: `DROP DATABASE IF EXISTS ${old}` });
    const durationMs = Date.now() - started;
    const result: RebuildResult = {
      events,
      durationMs,
      eventsPerSecond: Math.round((events * 1000) / Math.max(1, durationMs)),
      oldDatabase: options.dropOld ? null : old,
    };
    logger.info(result, 'rebuild: swapped in; start the live writer again');
    return result;
  } finally {
    if (writer) await writer.stop().catch(() => undefined);
    await admin.disconnect();
    if (!deps.clickhouse) await clickhouse.close();
  }
}
