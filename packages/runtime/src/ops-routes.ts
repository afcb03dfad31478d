import type { FastifyInstance } from 'fastify';
import type { Metrics } from './metrics.js';

export interface ReadinessCheck {
  name: string;
  /** Returns null when healthy, or a short reason. Must be cheap: it runs on every /readyz. */
  check: () => string | null | Promise<string | null>;
  /** Degraded checks show in /readyz but do not make it fail (e.g. Kafka down while the spool absorbs events). */
  critical?: boolean;
}

/** The operational endpoints' paths: a probe or a scrape is not traffic. */
export const OPS_PATHS: ReadonlySet<string> = new Set(['/healthz', '/readyz', '/metrics']);

/** `/healthz` (process alive), `/readyz` (dependencies caught up and reachable) and `/metrics` (Prometheus). */
export function registerOpsRoutes(
  app: FastifyInstance,
  options: { checks: () => ReadinessCheck[]; metrics: Metrics },
): void {
  app.get('/healthz', async () => ({ status: 'ok' }));
  app.get('/readyz', async (_request, reply) => {
    const results: Record<string, { ok: boolean; reason?: string; critical: boolean }> = {};
    let ready = true;
    for (const c of options.checks()) {
      let reason: string | null;
      try {
        reason = await c.check();
      } catch (err) {
        reason = err instanceof Error ? err.message : String(err);
      }
      const critical = c.critical !== false;
      results[c.name] = reason === null ? { ok: true, critical } : { ok: false, reason, critical };
      if (reason !== null && critical) ready = false;
    }
    return reply.code(ready ? 200 : 503).send({ status: ready ? 'ready' : 'not_ready', checks: results });
  });
  app.get('/metrics', async (_request, reply) => {
    const body = await options.metrics.registry.metrics();
    return reply.header('content-type', options.metrics.registry.contentType).send(body);
  });
}
