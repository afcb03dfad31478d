import { randomBytes } from 'node:crypto';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  createHostContext,
  headersToStrings,
  loadConfig,
  startHost,
  type GatewayConfig,
  type HostContext,
  type HostedComponent,
  type RunningHost,
} from '@maniac-gateway/runtime';
import { decodeCompletionEvent, type CompletionEvent } from '@maniac-gateway/schemas';
import { Kafka, logLevel } from 'kafkajs';

/** Polls `fn` until it returns a non-undefined value, or fails after the deadline. Never a fixed sleep. */
export async function pollUntil<T>(
  fn: () => T | undefined | Promise<T | undefined>,
  options: { timeoutMs?: number; intervalMs?: number; message?: string } = {},
): Promise<T> {
  const deadline = Date.now() + (options.timeoutMs ?? 30_000);
  let lastError: unknown;
  for (;;) {
    try {
      const value = await fn();
      if (value !== undefined) return value;
    } catch (err) {
      lastError = err;
    }
    if (Date.now() > deadline) {
      throw new Error(
        `${options.message ?? 'condition not met'} within ${options.timeoutMs ?? 30_000} ms` +
          (lastError ? `: ${String(lastError)}` : ''),
      );
    }
    await new Promise((r) => setTimeout(r, options.intervalMs ?? 50));
  }
}

export function testEnv(): { brokers: string; clickhouseUrl: string } {
  return {
    brokers: process.env.KAFKA_BROKERS ?? '127.0.0.1:9092',
    clickhouseUrl: process.env.CLICKHOUSE_URL ?? 'http://127.0.0.1:8123',
  };
}

/** A unique suffix for topics, databases and spool dirs, so suites never collide. */
export function uniqueName(prefix: string): string {
  return `${prefix}_${Date.now().toString(36)}_${randomBytes(3).toString('hex')}`;
}

export interface TestConfigOptions {
  providers?: Record<string, { base_url: string; api_key?: string; [k: string]: unknown }>;
  containers?: unknown[];
  /** Deep-merged over the generated config. */
  extra?: Record<string, unknown>;
  topicPrefix?: string;
  database?: string;
}

/** A config with unique topics, a unique ClickHouse database and a private spool directory. */
export function testConfig(options: TestConfigOptions = {}): GatewayConfig {
  const { brokers, clickhouseUrl } = testEnv();
  const prefix = options.topicPrefix ?? `${uniqueName('t')}.`;
  const raw: Record<string, unknown> = {
    log_level: process.env.TEST_LOG_LEVEL ?? 'silent',
    server: { host: '127.0.0.1', port: 0 },
    kafka: {
      brokers: brokers.split(','),
      topics: {
        completions: `${prefix}completions`,
        control: `${prefix}control`,
        dead_letter: `${prefix}dlq`,
      },
      completions_partitions: 3,
      linger_ms: 2,
    },
    clickhouse: { url: clickhouseUrl, database: options.database ?? uniqueName('test') },
    spool: { dir: mkdtempSync(join(tmpdir(), 'maniac-spool-')) },
    providers: options.providers ?? {},
    containers: options.containers ?? [],
    ...options.extra,
  };
  // An empty env: tests never pick up the developer's real provider keys.
  return loadConfig({ raw, env: {} });
}

export interface TestHost {
  ctx: HostContext;
  host: RunningHost;
  url: string;
  config: GatewayConfig;
  /** A project and a key on it, created through the control topic. */
  projectId: string;
  apiKey: string;
  newProjectKey(name?: string): Promise<{ projectId: string; apiKey: string; keyId: string }>;
  stop(): Promise<void>;
}

export async function startTestHost(
  config: GatewayConfig,
  components: (ctx: HostContext) => HostedComponent[],
  options: { logDestination?: NodeJS.WritableStream } = {},
): Promise<TestHost> {
  const ctx = createHostContext(config, 'test', options);
  const host = await startHost(ctx, components(ctx), { host: '127.0.0.1', port: 0 });
  const newProjectKey = async (name = uniqueName('project')) => {
    const project = await ctx.controlPlane.createProject(name);
    const { key, record } = await ctx.controlPlane.createKey(project.id, 'test');
    return { projectId: project.id, apiKey: key, keyId: record.id };
  };
  const first = await newProjectKey();
  return {
    ctx,
    host,
    url: host.url,
    config,
    projectId: first.projectId,
    apiKey: first.apiKey,
    newProjectKey,
    stop: () => host.stop(),
  };
}

/** Reads a completions topic from the beginning into memory, for asserting on produced events. */
export class EventCollector {
  readonly events: CompletionEvent[] = [];
  private readonly kafka: Kafka;
  private consumer: ReturnType<Kafka['consumer']> | null = null;

  constructor(private readonly topic: string) {
    this.kafka = new Kafka({
      brokers: testEnv().brokers.split(','),
      clientId: 'test-collector',
      logLevel: logLevel.NOTHING,
    });
  }

  async start(): Promise<void> {
    this.consumer = this.kafka.consumer({ groupId: uniqueName('collector'), maxWaitTimeInMs: 100 });
    await this.consumer.connect();
    await this.consumer.subscribe({ topic: this.topic, fromBeginning: true });
    await this.consumer.run({
      eachMessage: async ({ message }) => {
        if (message.value)
          this.events.push(decodeCompletionEvent(message.value, headersToStrings(message.headers)));
      },
    });
  }

  byCompletionId(id: string): CompletionEvent[] {
    return this.events.filter((e) => e.completion_id === id);
  }

  /** Waits until an event matches, returning it. */
  waitFor(predicate: (e: CompletionEvent) => boolean, timeoutMs = 30_000): Promise<CompletionEvent> {
    return pollUntil(() => this.events.find(predicate), { timeoutMs, message: 'event not produced' });
  }

  async stop(): Promise<void> {
    await this.consumer?.disconnect();
  }
}

/**
 * Rate limits count in fixed one-minute windows, so a burst that happens to straddle a window boundary is
 * admitted up to the limit in each window. Groups responses by their `X-RateLimit-Reset` window: a test then
 * asserts that every window that refused anything admitted exactly the limit.
 */
export function admittedByWindow(
  responses: readonly { status: number; reset: string | null }[],
): Map<string, { admitted: number; refused: number }> {
  const windows = new Map<string, { admitted: number; refused: number }>();
  for (const r of responses) {
    const key = r.reset ?? 'none';
    const w = windows.get(key) ?? { admitted: 0, refused: 0 };
    if (r.status === 200) w.admitted++;
    else if (r.status === 429) w.refused++;
    windows.set(key, w);
  }
  return windows;
}

/**
 * What is wrong with a burst's admissions under a per-window `limit` (empty: nothing): some request refused, no
 * window admitting more than the limit, and every window that refused anything admitting exactly the limit. An
 * admission whose Redis reply outlasted the store's command timeout fails open — served without rate-limit
 * headers (window 'none') although Redis may have counted it, so its window then shows one fewer by headers:
 * each such admission allows a window one fewer, and no more (seen once on a loaded CI machine).
 */
export function limitViolations(
  responses: readonly { status: number; reset: string | null }[],
  limit: number,
): string[] {
  const windows = admittedByWindow(responses);
  const failedOpen = windows.get('none')?.admitted ?? 0;
  const problems: string[] = [];
  if (!responses.some((r) => r.status === 429)) problems.push('no request was refused');
  for (const [window, w] of windows) {
    if (window === 'none') continue;
    if (w.admitted > limit) problems.push(`window ${window}: ${w.admitted} admitted, above ${limit}`);
    if (w.refused > 0 && w.admitted < limit - failedOpen) {
      problems.push(`window ${window}: ${w.admitted} admitted while refusing (${failedOpen} failed open)`);
    }
  }
  return problems;
}

/** A complete, valid completion event (a successful non-streamed request) with `overrides` applied. */
export function sampleCompletionEvent(i: number, overrides: Partial<CompletionEvent> = {}): CompletionEvent {
  return {
    event_id: `00000000-0000-4000-8000-${String(i).padStart(12, '0')}`,
    source: 'completion',
    completion_id: `chatcmpl-sample-${i}`,
    project_id: 'proj_sample',
    key_id: null,
    request_id: null,
    container: null,
    model: 'openai/gpt-4o-mini',
    provider: 'openai',
    upstream_model: 'gpt-4o-mini',
    upstream_id: null,
    stream: false,
    status: 'success',
    http_status: 200,
    error_code: null,
    error_message: null,
    finish_reason: 'stop',
    usage: null,
    spend_nanos: null,
    latency_ms: 1,
    ttft_ms: null,
    attempts: [],
    tags: [],
    metadata_json: null,
    trace_json: null,
    request_json: '{"messages":[{"role":"user","content":"hi"}]}',
    response_json: null,
    created_ms: 1_760_000_000_000 + i,
    ...overrides,
  };
}
