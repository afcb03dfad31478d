import { DEFAULT_AZURE_API_VERSION } from '@maniac-gateway/runtime';
import type { Json, ProviderAdapter, StreamTranslator, UpstreamCall } from './adapter.js';
import { isObject } from './native.js';
import { buildUpstreamRequest, parseOpenAiEvent } from './openai.js';

/**
 * Azure OpenAI: the OpenAI wire format on deployment URLs
 * (`/openai/deployments/{deployment}/chat/completions?api-version=…`, `api-key` header). The slug's model is
 * the deployment name. Azure's content-filter-only chunks (`choices: []`, `prompt_filter_results`, empty id) are
 * left out of streams: they carry nothing an OpenAI client reads, and would blank the stream's upstream id.
 */
export const azureAdapter: ProviderAdapter = {
  request(req, ctx): UpstreamCall {
    const headers: Record<string, string> = {};
    if (ctx.provider.api_key) headers['api-key'] = ctx.provider.api_key;
    const body = buildUpstreamRequest(req, ctx);
    // The deployment names the model; Azure ignores `model` in the body.
    delete body.model;
    const version = ctx.provider.api_version ?? DEFAULT_AZURE_API_VERSION;
    return {
      path:
        `/openai/deployments/${encodeURIComponent(ctx.upstreamModel)}/chat/completions` +
        `?api-version=${encodeURIComponent(version)}`,
      headers,
      body,
    };
  },
  response(body) {
    return isObject(body) ? body : {};
  },
  stream(): StreamTranslator {
    return {
      push(event) {
        const { chunk, done } = parseOpenAiEvent(event);
        const choices = chunk && Array.isArray(chunk.choices) ? (chunk.choices as Json[]) : [];
        const filterOnly = chunk !== null && choices.length === 0 && !chunk.usage;
        return { chunks: chunk && !filterOnly ? [chunk] : [], done };
      },
    };
  },
};
