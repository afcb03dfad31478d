import { ApiError, ErrorCodes, type ContainerConfig } from '@maniac-gateway/runtime';

/** `provider/model` ≡ `provider:model`: split at the first '/' or ':'; the rest may contain either. */
export interface ParsedSlug {
  provider: string;
  model: string;
}

export function parseSlug(slug: string): ParsedSlug | null {
  const trimmed = slug.trim();
  const cut = trimmed.search(/[/:]/);
  if (cut <= 0 || cut === trimmed.length - 1) return null;
  return { provider: trimmed.slice(0, cut).toLowerCase(), model: trimmed.slice(cut + 1) };
}

export function canonicalSlug(provider: string, model: string): string {
  return `${provider}/${model}`;
}

export const CONTAINER_PROVIDER = 'maniac';

/**
 * Other names of a provider: `google/gemini-2.5-flash` is served by the provider named `gemini` unless a provider
 * named `google` is configured. The canonical slug (events, spend, responses) uses the provider's own name.
 */
export const PROVIDER_ALIASES: Readonly<Record<string, string>> = { google: 'gemini' };

/** One upstream attempt of a fallback plan. */
export interface PlannedAttempt {
  provider: string;
  /** The model name sent upstream. */
  model: string;
  /** Canonical `provider/model`. */
  slug: string;
}

export interface RoutePlan {
  container: ContainerConfig | null;
  attempts: PlannedAttempt[];
}

export interface RoutingTable {
  hasProvider(name: string): boolean;
  container(label: string): ContainerConfig | undefined;
}

function notFound(slug: string, reason: string): ApiError {
  return new ApiError(404, ErrorCodes.modelNotFound, `Model '${slug}' not found: ${reason}`, { model: slug });
}

/** Resolves a non-container slug to an attempt, or throws 404 model_not_found. */
function resolveExternal(slug: string, table: RoutingTable): PlannedAttempt {
  const parsed = parseSlug(slug);
  if (!parsed) throw notFound(slug, 'expected provider/model or maniac:<container>');
  if (parsed.provider === CONTAINER_PROVIDER) {
    throw notFound(slug, 'container slugs cannot be nested inside a container or fallback list');
  }
  let provider = parsed.provider;
  if (!table.hasProvider(provider)) {
    const alias = Object.hasOwn(PROVIDER_ALIASES, provider) ? PROVIDER_ALIASES[provider] : undefined;
    if (!alias || !table.hasProvider(alias)) {
      throw notFound(slug, `provider '${parsed.provider}' is not configured`);
    }
    provider = alias;
  }
  return {
    provider,
    model: parsed.model,
    slug: canonicalSlug(provider, parsed.model),
  };
}

/**
 * The slug a request asks for: `model`, or — as the Maniac Python client 0.4 sends it — a `container` label, which
 * means `maniac:<label>`, pinned to `model` when both are given (an explicit `maniac:` model wins).
 */
export function requestedModel(
  model: string | null | undefined,
  container: string | null | undefined,
): string | null | undefined {
  if (container === null || container === undefined || container === '') return model;
  if (model === null || model === undefined || model.trim() === '')
    return `${CONTAINER_PROVIDER}:${container}`;
  if (parseSlug(model)?.provider === CONTAINER_PROVIDER) return model;
  return `${CONTAINER_PROVIDER}:${container}:${model}`;
}

/**
 * The fallback plan: the request's `model` (or the container's model, or the model pinned with
 * `maniac:<label>:<slug>`), then each of `models`, then the container's fallbacks. Duplicates are dropped,
 * keeping the first occurrence.
 */
export function planRoute(
  model: string | null | undefined,
  models: string[] | null | undefined,
  table: RoutingTable,
): RoutePlan {
  const requested = model ?? models?.[0];
  if (requested === undefined || requested.trim() === '') {
    throw new ApiError(400, ErrorCodes.invalidRequest, 'No model given: set `model` (or `models`)', {
      param: 'model',
    });
  }
  const rest = model ? (models ?? []) : (models ?? []).slice(1);
  const primary = parseSlug(requested);
  let container: ContainerConfig | null = null;
  const slugs: string[] = [];
  const tail: string[] = [];
  if (primary && primary.provider === CONTAINER_PROVIDER) {
    const cut = primary.model.search(/[/:]/);
    const label = cut === -1 ? primary.model : primary.model.slice(0, cut);
    const pinned = cut === -1 ? null : primary.model.slice(cut + 1);
    const found = table.container(label);
    if (!found) {
      throw new ApiError(404, ErrorCodes.modelNotFound, `Container '${label}' not found`, {
        model: requested,
        container: label,
      });
    }
    container = found;
    slugs.push(pinned ?? found.model);
    tail.push(...found.fallback_models);
  } else {
    slugs.push(requested);
  }
  slugs.push(...rest, ...tail);
  const seen = new Set<string>();
  const attempts: PlannedAttempt[] = [];
  for (const slug of slugs) {
    const attempt = resolveExternal(slug, table);
    if (seen.has(attempt.slug)) continue;
    seen.add(attempt.slug);
    attempts.push(attempt);
  }
  return { container, attempts };
}
