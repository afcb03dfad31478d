import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import { queryInt, validate } from '@maniac-gateway/schemas';
import {
  ApiError,
  ErrorCodes,
  requireAuth,
  ValidationFailure,
  type ProviderConfig,
} from '@maniac-gateway/runtime';
import type { ControlPlane } from '@maniac-gateway/runtime';
import type { PriceBook } from '../pricing/price-book.js';
import { canonicalSlug, parseSlug } from '../routing.js';
import type { ContainerDirectory } from '../containers/container-directory.js';

export interface ModelEntry {
  id: string;
  object: 'model';
  created: number;
  owned_by: string;
  provider: string;
  context_window: number | null;
  max_output_tokens: number | null;
  /** USD per million tokens, when known. */
  pricing: { input: number; output: number; cached_input: number | null } | null;
}

export interface ModelsDeps {
  providers: Record<string, ProviderConfig>;
  prices: PriceBook;
  controlPlane: ControlPlane;
  containers: ContainerDirectory;
  configContainers: string[];
}

function lastValue(value: unknown): unknown {
  return Array.isArray(value) ? value.at(-1) : value;
}

/**
 * What the Maniac Python client sends: `limit`/`offset` (without `limit`, every model, as the OpenAI SDK expects)
 * and `container` (that container's `maniac:<label>`, its model and its fallbacks).
 */
const ModelsQuery = z.object({
  limit: queryInt(z.number().int().min(1).max(10_000)).optional(),
  offset: queryInt(z.number().int().min(0)).default(0),
  container: z.preprocess(lastValue, z.string()).optional(),
});

/**
 * GET /models: every routable model — the configured providers' known models (price table and config) — and the
 * project's containers as `maniac:<label>`, in the OpenAI list shape (`client.models.list()` works).
 */
export function registerModelRoutes(app: FastifyInstance, deps: ModelsDeps): void {
  app.get('/models', async (request) => {
    const { projectId } = requireAuth(request);
    const parsed = validate(ModelsQuery, request.query ?? {}, 'query');
    if (!parsed.ok) throw new ValidationFailure(parsed.detail);
    const query = parsed.value;
    const data: ModelEntry[] = [];
    const seen = new Set<string>();
    for (const [name, provider] of Object.entries(deps.providers)) {
      for (const info of deps.prices.models(name)) {
        seen.add(info.id);
        data.push({
          id: info.id,
          object: 'model',
          created: 0,
          owned_by: name,
          provider: name,
          context_window: info.context_window,
          max_output_tokens: info.max_output_tokens,
          pricing: {
            input: info.price.input,
            output: info.price.output,
            cached_input: info.price.cached_input,
          },
        });
      }
      for (const model of provider.models) {
        const id = `${name}/${model}`;
        if (seen.has(id)) continue;
        seen.add(id);
        data.push({
          id,
          object: 'model',
          created: 0,
          owned_by: name,
          provider: name,
          context_window: null,
          max_output_tokens: null,
          pricing: null,
        });
      }
    }
    const labels = new Set([
      ...deps.controlPlane.containers(projectId).map((c) => c.label),
      ...deps.configContainers,
    ]);
    for (const label of labels) {
      const container = deps.containers.get(projectId, label);
      if (!container) continue;
      data.push({
        id: `maniac:${label}`,
        object: 'model',
        created: 0,
        owned_by: 'maniac',
        provider: 'maniac',
        context_window: null,
        max_output_tokens: null,
        pricing: null,
      });
    }
    let selected = data;
    if (query.container !== undefined && query.container !== '') {
      const label = query.container.replace(/^maniac[:/]/, '');
      const container = deps.containers.get(projectId, label);
      if (!container) {
        throw new ApiError(404, ErrorCodes.containerNotFound, `Container '${label}' not found`, {
          container: label,
        });
      }
      const ids = new Set([
        `maniac:${label}`,
        ...[container.model, ...container.fallback_models].map((slug) => {
          const p = parseSlug(slug);
          return p ? canonicalSlug(p.provider, p.model) : slug;
        }),
      ]);
      const byId = new Map(data.map((m) => [m.id, m]));
      selected = [...ids].map((id) => {
        const provider = id.split(/[/:]/)[0] ?? '';
        return (
          byId.get(id) ?? {
            id,
            object: 'model' as const,
            created: 0,
            owned_by: provider,
            provider,
            context_window: null,
            max_output_tokens: null,
            pricing: null,
          }
        );
      });
    }
    const page = selected.slice(
      query.offset,
      query.limit === undefined ? undefined : query.offset + query.limit,
    );
    return { object: 'list', data: page, total: selected.length };
  });
}
