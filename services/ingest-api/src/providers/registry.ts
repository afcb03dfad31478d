import type { ProviderConfig } from '@maniac-gateway/runtime';
import type { ProviderAdapter } from './adapter.js';
import { anthropicAdapter } from './anthropic.js';
import { azureAdapter } from './azure.js';
import { geminiAdapter } from './gemini.js';
import { openAiAdapter } from './openai.js';

/** Provider kind → wire-format adapter. New kinds register here (and in the config schema's ProviderKinds). */
const ADAPTERS: Record<ProviderConfig['kind'], ProviderAdapter> = {
  openai: openAiAdapter,
  anthropic: anthropicAdapter,
  gemini: geminiAdapter,
  azure: azureAdapter,
};

export function adapterFor(kind: ProviderConfig['kind']): ProviderAdapter {
  return ADAPTERS[kind];
}
