import type { FastifyInstance } from 'fastify';
import { ControlPlane } from './control-plane.js';
import type { GatewayConfig } from './config.js';
import { applyHeapGrowingPercent } from './heap-growth.js';
import { capYoungGeneration } from './young-generation.js';
import { createHttpServer, type RequestActivity } from './http.js';
import { startIdleGc } from './idle-gc.js';
import { createKafka, type Kafka } from './kafka.js';
import { createLogger, type Logger } from './logger.js';
import { Metrics } from './metrics.js';
import { OPS_PATHS, registerOpsRoutes, type ReadinessCheck } from './ops-routes.js';

/** A service part a host runs: optional API routes (mounted under /v1 and /api/v1) and a lifecycle. */
export interface HostedComponent {
  readonly name: string;
  readonly plugin?: (app: FastifyInstance) => Promise<void>;
  start(): Promise<void>;
  stop(): Promise<void>;
  checks(): ReadinessCheck[];
}

export interface HostContext {
  config: GatewayConfig;
  logger: Logger;
  metrics: Metrics;
  kafka: Kafka;
  controlPlane: ControlPlane;
}

export const API_PREFIXES = ['/v1', '/api/v1'] as const;

/** Shared plumbing for every entry point: logger, metrics, Kafka client and the control plane. */
export function createHostContext(
  config: GatewayConfig,
  name: string,
  options: { logDestination?: NodeJS.WritableStream } = {},
): HostContext {
  const logger = createLogger({
    name,
    level: config.log_level,
    ...(options.logDestination ? { destination: options.logDestination } : { bufferMs: 200 }),
  });
  const metrics = new Metrics();
  const kafka = createKafka({
    brokers: config.kafka.brokers,
    clientId: `${config.kafka.client_id}-${name}`,
    logger,
  });
  const controlPlane = new ControlPlane(
    kafka,
    config.kafka.topics.control,
    logger.child({ component: 'control-plane' }),
  );
  return { config, logger, metrics, kafka, controlPlane };
}

export interface RunningHost {
  app: FastifyInstance;
  url: string;
  stop(): Promise<void>;
}

export interface HostOptions {
  /**
   * Apply `server.heap_growing_percent` and `server.young_generation_mb` to this process: for the processes that
   * serve chat (ingest-api, `start`). The writer keeps V8's own growth: in a catch-up it holds whole batches, and
   * 50 % cost it ~25 % more CPU.
   */
  servesChat?: boolean;
}

/**
 * Starts the control plane and the components, mounts their routes and the ops routes on one HTTP server, and
 * returns a stop function that drains in-flight requests before stopping components in reverse order.
 */
export async function startHost(
  ctx: HostContext,
  components: HostedComponent[],
  listen: { host: string; port: number },
  options: HostOptions = {},
): Promise<RunningHost> {
  const { config, logger, metrics, controlPlane } = ctx;
  const heapGrowingPercent = options.servesChat
    ? applyHeapGrowingPercent(config.server.heap_growing_percent)
    : null;
  const youngGenerationMb = options.servesChat ? capYoungGeneration(config.server.young_generation_mb) : null;
  await controlPlane.start();
  const started: HostedComponent[] = [];
  try {
    for (const c of components) {
      await c.start();
      started.push(c);
    }
  } catch (err) {
    for (const c of started.reverse()) await c.stop().catch(() => undefined);
    await controlPlane.stop();
    throw err;
  }
  const activity: RequestActivity = { started: 0, ignore: OPS_PATHS };
  const app = createHttpServer({
    logger,
    bodyLimitBytes: Math.round(config.server.body_limit_mb * 1024 * 1024),
    metrics,
    activity,
  });
  registerOpsRoutes(app, {
    metrics,
    checks: () => [
      { name: 'control_plane', check: () => controlPlane.readinessProblem() },
      ...components.flatMap((c) => c.checks()),
    ],
  });
  for (const c of components) {
    const plugin = c.plugin;
    if (!plugin) continue;
    for (const prefix of API_PREFIXES) await app.register(plugin, { prefix });
  }
  const url = await app.listen({ host: listen.host, port: listen.port });
  logger.info(
    {
      url,
      components: components.map((c) => c.name),
      ...(heapGrowingPercent !== null && { heap_growing_percent: heapGrowingPercent }),
      ...(youngGenerationMb !== null && { young_generation_mb: youngGenerationMb }),
    },
    'listening',
  );
  const idleGcRuns = metrics.counter(
    'maniac_idle_gc_total',
    'Full garbage collections run while idle after a burst',
  );
  const idleGc = startIdleGc({
    garbageBytes: config.server.idle_gc_mb * 1024 * 1024,
    activity: () => activity.started,
    onCollect: ({ grownBytes, durationMs }) => {
      idleGcRuns.inc();
      logger.debug(
        { grown_mb: Math.round(grownBytes / 1048576), duration_ms: Math.round(durationMs) },
        'idle garbage collection',
      );
    },
  });
  let stopping: Promise<void> | null = null;
  return {
    app,
    url,
    stop: () => {
      stopping ??= (async () => {
        idleGc?.stop();
        await app.close();
        for (const c of [...components].reverse()) {
          try {
            await c.stop();
          } catch (err) {
            logger.error({ err, component: c.name }, 'component stop failed');
          }
        }
        await controlPlane.stop();
      })();
      return stopping;
    },
  };
}

/** SIGTERM/SIGINT → graceful stop with a deadline, then exit. */
export function stopOnSignals(host: RunningHost, logger: Logger, graceMs: number): void {
  let signalled = false;
  const handler = (signal: NodeJS.Signals) => {
    if (signalled) return;
    signalled = true;
    logger.info({ signal }, 'shutting down: finishing in-flight requests and flushing events');
    const timer = setTimeout(() => {
      logger.error('shutdown grace period exceeded; exiting');
      process.exit(1);
    }, graceMs);
    timer.unref();
    host.stop().then(
      () => process.exit(0),
      (err: unknown) => {
        logger.error({ err }, 'shutdown failed');
        process.exit(1);
      },
    );
  };
  process.on('SIGTERM', handler);
  process.on('SIGINT', handler);
}
