import type { FastifyInstance } from 'fastify';
import { requireAuth, type ProviderConfig } from '@maniac-gateway/runtime';
import type { ControlPlane } from '@maniac-gateway/runtime';
import type { PriceBook } from '../pricing/price-book.js';
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

/**
 * GET /models: every routable model — the configured providers' known models (price table and config) — and the
 * project's containers as `maniac:<label>`, in the OpenAI list shape (`client.models.list()` works).
 */
export function registerModelRoutes(app: FastifyInstance, deps: ModelsDeps): void {
  app.get('/models', async (request) => {
    const { projectId } = requireAuth(request);
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
    return { object: 'list', data };
  });
}
