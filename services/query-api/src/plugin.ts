import type { ClickHouseClient } from '@clickhouse/client';
import {
  ApiError,
  ErrorCodes,
  installAuth,
  requireAuth,
  ValidationFailure,
  type ControlPlane,
  type GatewayConfig,
  type Logger,
  type Metrics,
} from '@maniac-gateway/runtime';
import {
  CompletionListQuery,
  validate,
  type ChatListRes,
  type ChatResRelaxedOutput,
} from '@maniac-gateway/schemas';
import type { FastifyInstance } from 'fastify';
import { registerDatasetRoute } from './dataset-route.js';
import { CompletionStore, type ListFilter } from './completion-store.js';
import { modelFilter } from './model-id.js';
import { renderCompletion } from './render.js';
import { resolveRange, UsageQuery, UsageStore, type UsageResult } from './usage.js';

export interface QueryApiOptions {
  config: GatewayConfig;
  clickhouse: ClickHouseClient;
  controlPlane: ControlPlane;
  logger: Logger;
  metrics: Metrics;
}

/** Completion ids are short; anything longer cannot exist and is not worth a query. */
const MAX_ID_LENGTH = 512;

/** The list's filters → what to match (`model` in either spelling; `maniac:<label>` is a container). */
export function listFilter(model: string | undefined, container: string | undefined): ListFilter {
  const filter: ListFilter = {};
  if (model !== undefined && model.trim() !== '') {
    const m = modelFilter(model);
    if (m.container !== null) {
      filter.container = m.container;
      if (m.models.length > 0) filter.models = m.models;
    } else {
      filter.models = m.models;
    }
  }
  if (container !== undefined && container !== '') {
    // The container parameter is a label; its slug spelling (`maniac:<label>` / `maniac/<label>`) is accepted too.
    const slug = /^maniac[:/](.+)$/.exec(container);
    if (slug?.[1]) container = slug[1];
    // Both a container from `model=maniac:<label>` and a different `container`: nothing can match.
    filter.container =
      filter.container !== undefined && filter.container !== container ? '\u0000' : container;
  }
  return filter;
}

/**
 * query-api routes, registered by a host under `/v1` and `/api/v1`: `GET /chat/completions` (list),
 * `GET /chat/completions/:completion_id` (get) and `GET /usage` (rollups). Authenticated with project API keys;
 * every read is scoped to the key's project.
 */
export async function queryApi(app: FastifyInstance, options: QueryApiOptions): Promise<void> {
  const database = options.config.clickhouse.database;
  const duration = options.metrics.histogram(
    'maniac_query_clickhouse_duration_seconds',
    'ClickHouse query latency of query-api reads',
    [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
    ['query'],
  );
  const completions = new CompletionStore(options.clickhouse, database, duration);
  const usage = new UsageStore(options.clickhouse, database, duration);

  installAuth(app, options.controlPlane);

  app.get('/chat/completions', async (request): Promise<ChatListRes> => {
    const { projectId } = requireAuth(request);
    const parsed = validate(CompletionListQuery, request.query ?? {}, 'query');
    if (!parsed.ok) throw new ValidationFailure(parsed.detail);
    const q = parsed.value;
    const { items, total } = await completions.list(projectId, {
      limit: q.limit,
      offset: q.offset,
      order: q.order,
      ...listFilter(q.model, q.container),
    });
    return { object: 'list', data: items.map(renderCompletion), total };
  });

  app.get<{ Params: { completion_id: string } }>(
    '/chat/completions/:completion_id',
    async (request): Promise<ChatResRelaxedOutput> => {
      const { projectId } = requireAuth(request);
      const id = request.params.completion_id;
      const row = id.length > 0 && id.length <= MAX_ID_LENGTH ? await completions.get(projectId, id) : null;
      if (!row) {
        // Another project's completion is "not found" too: existence must not leak.
        throw new ApiError(404, ErrorCodes.completionNotFound, `Completion ${id} not found`, {
          completion_id: id,
        });
      }
      return renderCompletion(row);
    },
  );

  app.get('/usage', async (request): Promise<UsageResult> => {
    const { projectId } = requireAuth(request);
    const parsed = validate(UsageQuery, request.query ?? {}, 'query');
    if (!parsed.ok) throw new ValidationFailure(parsed.detail);
    const range = resolveRange(parsed.value);
    if ('error' in range) {
      throw new ValidationFailure([
        { type: 'value_error', loc: ['query', 'from'], msg: `Value error, ${range.error}` },
      ]);
    }
    return usage.usage(projectId, parsed.value, range);
  });

  registerDatasetRoute(app, options);
}
