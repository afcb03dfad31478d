import type { FastifyInstance } from 'fastify';
import {
  createClickHouse,
  completionTopicSpecs,
  completionsMaxMessageBytes,
  ensureTopics,
  topicMaxMessageBytes,
  installAuth,
  type ControlPlane,
  type GatewayConfig,
  type HostedComponent,
  type Kafka,
  type Logger,
  type Metrics,
  type ReadinessCheck,
  type ClickHouseClient,
} from '@maniac-gateway/runtime';
import { ContainerDirectory } from './containers/container-directory.js';
import { ContainerService } from './containers/container-service.js';
import { ClickHouseContainerStats } from './containers/container-stats.js';
import { registerContainerRoutes } from './routes/containers.js';
import { registerModelRoutes } from './routes/models.js';
import { ClickHouseExistingIds } from './register/existing-ids.js';
import { RegisterService } from './register/register-service.js';
import { registerRegisterRoutes } from './routes/register.js';
import { CompletionService } from './completion/service.js';
import { EventPublisher } from './events/publisher.js';
import { Spool } from './events/spool.js';
import { createIngestMetrics } from './metrics.js';
import { PriceBook, type PriceInput } from './pricing/price-book.js';
import { UpstreamClient, type PoolStats } from './providers/upstream.js';
import { registerChatRoutes, type ChatAdmission } from './routes/chat.js';
import { installRequestBounds } from './request-bounds.js';
import { MemoryCounterStore, type CounterStore } from './limits/counter-store.js';
import { RedisCounterStore } from './limits/redis-store.js';
import { BudgetTracker } from './limits/budget.js';
import { RequestGuard } from './limits/request-guard.js';
import type { RoutingTable } from './routing.js';

export interface IngestDeps {
  config: GatewayConfig;
  kafka: Kafka;
  controlPlane: ControlPlane;
  logger: Logger;
  metrics: Metrics;
}

/**
 * ingest-api: POST /chat/completions (and, later, register). `plugin` is registered by a host under `/v1` and
 * `/api/v1`; `start`/`stop` own the event publisher (Kafka producer + spool) and upstream pools.
 */
export class IngestApi implements HostedComponent {
  readonly name = 'ingest-api';
  readonly publisher: EventPublisher;
  readonly upstream: UpstreamClient;
  readonly service: CompletionService;
  readonly prices: PriceBook;
  readonly register: RegisterService;
  readonly containers: ContainerDirectory;
  readonly containerService: ContainerService;
  readonly containerStats: ClickHouseContainerStats;
  private readonly clickhouse: ClickHouseClient;
  readonly counters: CounterStore;
  readonly budgets: BudgetTracker;
  readonly guard: RequestGuard;
  private readonly gate: ChatAdmission;

  constructor(private readonly deps: IngestDeps) {
    const { config, logger } = deps;
    const metrics = createIngestMetrics(deps.metrics);
    this.upstream = new UpstreamClient(config.providers, {
      maxResponseBytes: Math.round(config.server.max_upstream_response_mb * 1024 * 1024),
    });
    // Read from the pools at each scrape: a provider whose queue grows needs more `max_connections`.
    const poolGauge = (name: string, help: string, pick: (s: PoolStats) => number) =>
      deps.metrics.gauge(name, help, ['provider'], (g) => {
        for (const s of this.upstream.poolStats()) g.set({ provider: s.provider }, pick(s));
      });
    poolGauge('maniac_upstream_connections', 'Open connections to the provider', (s) => s.connected);
    poolGauge(
      'maniac_upstream_requests_in_flight',
      'Requests to the provider on a connection',
      (s) => s.running,
    );
    poolGauge(
      'maniac_upstream_queued_requests',
      'Requests waiting for a connection to the provider (all max_connections busy)',
      (s) => s.queued,
    );
    this.publisher = new EventPublisher({
      topic: config.kafka.topics.completions,
      lingerMs: config.kafka.linger_ms,
      batchMax: config.kafka.batch_max,
      produceTimeoutMs: config.kafka.produce_timeout_ms,
      queueMaxBytes: Math.round(config.kafka.queue_max_mb * 1024 * 1024),
      spool: new Spool(config.spool.dir, config.spool.max_bytes),
      kafka: deps.kafka,
      logger: logger.child({ component: 'event-publisher' }),
      metrics,
    });
    this.prices = PriceBook.builtin();
    for (const file of config.pricing.files) this.prices.loadFile(file);
    this.prices.extend(config.pricing.models as Record<string, PriceInput | null>);
    const containers = new ContainerDirectory(deps.controlPlane, config.containers);
    this.containers = containers;
    this.containerService = new ContainerService(deps.controlPlane, containers, (name) =>
      this.upstream.has(name),
    );
    const routingFor = (projectId: string): RoutingTable => ({
      hasProvider: (name) => this.upstream.has(name),
      container: (label) => containers.get(projectId, label),
    });
    this.service = new CompletionService({
      upstream: this.upstream,
      routing: routingFor,
      events: this.publisher,
      prices: this.prices,
      logger,
      metrics,
    });
    // ClickHouse is read only by register (to skip examples already stored) and for the containers' counters,
    // never on the chat path.
    this.clickhouse = createClickHouse(config.clickhouse, { requestTimeoutMs: 10_000 });
    this.containerStats = new ClickHouseContainerStats(
      this.clickhouse,
      config.clickhouse.database,
      logger.child({ component: 'container-stats' }),
    );
    this.counters = config.redis_url ? new RedisCounterStore(config.redis_url) : new MemoryCounterStore();
    this.budgets = new BudgetTracker(
      this.clickhouse,
      config.clickhouse.database,
      logger.child({ component: 'budgets' }),
    );
    this.guard = new RequestGuard({
      store: this.counters,
      budgets: this.budgets,
      limits: config.limits,
      estimateSpend: (plan, promptTokens, outputTokens) => {
        const first = plan.attempts[0];
        if (!first) return null;
        return this.prices.spendNanos(first.provider, first.model, {
          prompt_tokens: promptTokens,
          completion_tokens: outputTokens,
          total_tokens: promptTokens + outputTokens,
          cached_tokens: null,
          cache_creation_tokens: null,
          reasoning_tokens: null,
        });
      },
      metrics: {
        refused: deps.metrics.counter('maniac_rate_limited_total', 'Requests refused by a rate limit', [
          'limit',
          'scope',
        ]),
        limiterErrors: deps.metrics.counter(
          'maniac_rate_limiter_errors_total',
          'Rate-limit checks that failed open because the counter store was unreachable',
        ),
      },
      logger: logger.child({ component: 'limits' }),
    });
    this.gate = {
      admit: (auth, req, plan, receivedMs) => {
        const key = deps.controlPlane.key(auth.keyId);
        const project = deps.controlPlane.project(auth.projectId);
        if (!key || !project) throw new Error('authenticated key or project vanished');
        return this.guard.admit(key, project, req, plan, receivedMs);
      },
    };
    this.register = new RegisterService({
      events: this.publisher,
      prices: this.prices,
      existing: new ClickHouseExistingIds(this.clickhouse, config.clickhouse.database),
      hasContainer: (projectId, label) => containers.get(projectId, label) !== undefined,
      logger,
    });
  }

  readonly plugin = async (app: FastifyInstance): Promise<void> => {
    installAuth(app, this.deps.controlPlane);
    installRequestBounds(app, {
      maxMessages: this.deps.config.server.max_messages,
      maxTools: this.deps.config.server.max_tools,
    });
    registerChatRoutes(app, this.service, this.gate);
    registerRegisterRoutes(app, this.register);
    registerContainerRoutes(app, this.containerService, this.containerStats);
    registerModelRoutes(app, {
      providers: this.deps.config.providers,
      prices: this.prices,
      controlPlane: this.deps.controlPlane,
      containers: this.containers,
      configContainers: this.deps.config.containers.map((c) => c.label),
    });
  };

  async start(): Promise<void> {
    const admin = this.deps.kafka.admin();
    await admin.connect();
    try {
      const topics = completionTopicSpecs(this.deps.config);
      await ensureTopics(admin, [topics.completions, topics.deadLetter]);
      // Produce requests as large as the topic allows (up to 8 MiB): with the 900 KiB default a produce carried
      // ~460 events, and under sustained load (~3,000 req/s at 256 connections here) the publisher fell behind
      // and its queue grew by ~1,700 events/s (RSS 259 → 350 MB over three 8-s runs).
      const topicMax = await topicMaxMessageBytes(admin, this.deps.config.kafka.topics.completions);
      if (topicMax !== null) this.publisher.setBatchMaxBytes(topicMax);
      const needed = completionsMaxMessageBytes(this.deps.config);
      if (topicMax !== null && topicMax < needed) {
        // A topic made before (by hand, or by an older version's writer with Kafka's default): the broker refuses
        // every event whose batch is larger, and such events end in the spool's rejected/ directory.
        this.deps.logger.warn(
          {
            topic: this.deps.config.kafka.topics.completions,
            max_message_bytes: topicMax,
            needed,
            body_limit_mb: this.deps.config.server.body_limit_mb,
          },
          'the completions topic refuses events larger than its max.message.bytes: raise it to at least `needed` (kafka-configs.sh --alter --entity-type topics --add-config max.message.bytes=…)',
        );
      }
      this.deps.logger.debug(
        { topic_max_message_bytes: topicMax, produce_max_bytes: this.publisher.maxBatchBytes },
        'produce batch size',
      );
    } finally {
      await admin.disconnect();
    }
    await this.publisher.start();
    this.budgets.start();
    this.deps.logger.info({ providers: Object.keys(this.deps.config.providers) }, 'ingest-api ready');
  }

  checks(): ReadinessCheck[] {
    return [
      { name: 'event_publisher', critical: false, check: () => this.publisher.problem() },
      { name: 'rate_limits', critical: false, check: () => this.guard.problem() },
    ];
  }

  async stop(): Promise<void> {
    this.budgets.stop();
    await this.publisher.stop();
    await this.counters.close();
    await this.upstream.close();
    await this.clickhouse.close();
  }
}
