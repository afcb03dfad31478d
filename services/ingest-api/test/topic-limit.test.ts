import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { createKafka, createLogger, ensureTopics } from '@maniac-gateway/runtime';
import { startTestHost, testConfig, testEnv } from '@maniac-gateway/testkit';
import { IngestApi } from '../src/app.js';

describe('the completions topic limit', () => {
  it('warns at start when an existing topic refuses events as large as body_limit_mb allows', async () => {
    const config = testConfig({ extra: { log_level: 'warn' } });
    // The topic as an older writer made it: Kafka's default max.message.bytes (~1 MiB).
    const kafka = createKafka({
      brokers: testEnv().brokers.split(','),
      clientId: 'topic-limit',
      logger: createLogger({ name: 'topic-limit', level: 'silent' }),
    });
    const admin = kafka.admin();
    await admin.connect();
    await ensureTopics(admin, [{ topic: config.kafka.topics.completions, numPartitions: 1 }]);
    await admin.disconnect();

    const lines: string[] = [];
    const logDestination = new Writable({
      write(chunk: Buffer, _enc, cb) {
        lines.push(...chunk.toString('utf8').split('\n').filter(Boolean));
        cb();
      },
    });
    const gw = await startTestHost(config, (ctx) => [new IngestApi(ctx)], { logDestination });
    try {
      const warning = lines
        .map((l) => JSON.parse(l) as Record<string, unknown>)
        .find((l) => String(l.msg).startsWith('the completions topic refuses events larger than'));
      expect(warning).toMatchObject({
        level: 40,
        topic: config.kafka.topics.completions,
        body_limit_mb: config.server.body_limit_mb,
      });
      expect(warning?.max_message_bytes as number).toBeLessThan(warning?.needed as number);
      expect(warning?.needed).toBe(Math.round(config.server.body_limit_mb * 2 * 1024 * 1024) + 1024 * 1024);
    } finally {
      await gw.stop();
    }
  });
});
