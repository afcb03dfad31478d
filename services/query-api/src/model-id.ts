import { createHash } from 'node:crypto';

/**
 * Stable model ids and model filters.
 *
 * `model_id` is a name-based UUID (version 5, RFC 9562) of the canonical `provider/model` slug in a fixed
 * namespace: the same model always gets the same id, on every deployment, without a registry.
 */

/** uuid5(NAMESPACE_URL, "https://maniac.ai/gateway/models") — the namespace of model ids. */
export const MODEL_ID_NAMESPACE = '3d69f233-f60a-5480-8eb0-a039c48edb2c';

function uuidBytes(uuid: string): Buffer {
  const hex = uuid.replace(/-/g, '');
  if (!/^[0-9a-f]{32}$/i.test(hex)) throw new Error(`not a UUID: ${uuid}`);
  return Buffer.from(hex, 'hex');
}

/** RFC 9562 version-5 UUID of `name` in `namespace`. */
export function uuidV5(name: string, namespace: string): string {
  const hash = createHash('sha1').update(uuidBytes(namespace)).update(name, 'utf8').digest();
  hash[6] = ((hash[6] ?? 0) & 0x0f) | 0x50;
  hash[8] = ((hash[8] ?? 0) & 0x3f) | 0x80;
  const hex = hash.subarray(0, 16).toString('hex');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20, 32)}`;
}

/** Provider prefixes are short lowercase-ish tokens (`openai`, `groq`, `together-ai`, `vllm_local`). */
const PROVIDER_TOKEN = /^[A-Za-z0-9][A-Za-z0-9_.-]*$/;

/** The canonical `provider/model` spelling of a slug: the first `:` becomes `/` and the provider is lower-cased. */
export function canonicalModel(slug: string): string {
  const trimmed = slug.trim();
  const cut = trimmed.search(/[/:]/);
  if (cut <= 0 || cut === trimmed.length - 1) return trimmed;
  const provider = trimmed.slice(0, cut);
  if (!PROVIDER_TOKEN.test(provider)) return trimmed;
  return `${provider.toLowerCase()}/${trimmed.slice(cut + 1)}`;
}

/** The model's stable id, or null when there is no model. */
export function modelId(model: string | null | undefined): string | null {
  if (!model) return null;
  return uuidV5(canonicalModel(model), MODEL_ID_NAMESPACE);
}

/** A completion's container is named with the `maniac` provider prefix in model slugs (`maniac:<label>`). */
export const CONTAINER_PREFIX = 'maniac';

export interface ModelFilter {
  /** Stored model values that match (both spellings). */
  models: string[];
  /** Set when the filter names a container (`maniac:<label>`): match the container column instead. */
  container: string | null;
}

/**
 * A `model` query filter → what to match. `openai:gpt-4o` and `openai/gpt-4o` are the same model; stored models
 * are canonical, but the literal spelling is matched too. `maniac:<label>` names a container, which lives in
 * the `container` column, not in `model`.
 */
export function modelFilter(value: string): ModelFilter {
  const trimmed = value.trim();
  const canonical = canonicalModel(trimmed);
  const slash = canonical.indexOf('/');
  if (slash > 0 && canonical.slice(0, slash) === CONTAINER_PREFIX) {
    const rest = canonical.slice(slash + 1);
    // `maniac:<label>:<slug>` pins a model inside a container.
    const pin = rest.search(/[/:]/);
    if (pin > 0) return { models: spellings(rest.slice(pin + 1)), container: rest.slice(0, pin) };
    return { models: [], container: rest };
  }
  return { models: spellings(trimmed), container: null };
}

function spellings(slug: string): string[] {
  const canonical = canonicalModel(slug);
  const colon = canonical.replace('/', ':');
  return [...new Set([slug.trim(), canonical, colon])];
}
