import type { ProviderConfig } from '@maniac-gateway/runtime';
import type { ProviderAdapter } from './adapter.js';
import { openAiAdapter } from './openai.js';

/** Provider kind → wire-format adapter. New kinds register here (and in the config schema's ProviderKinds). */
const ADAPTERS: Record<ProviderConfig['kind'], ProviderAdapter> = {
  openai: openAiAdapter,
};

export function adapterFor(kind: ProviderConfig['kind']): ProviderAdapter {
  return ADAPTERS[kind];
}
