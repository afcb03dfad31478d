import type { ChatReq } from '@maniac-gateway/schemas';

/**
 * A cheap prompt-token estimate before the call (≈ 4 characters a token, plus per-message overhead), used to
 * reserve tokens-per-minute and spend; settled with the real usage afterwards.
 */
export function estimatePromptTokens(req: ChatReq): number {
  let chars = 0;
  let messages = 0;
  for (const m of req.messages) {
    messages++;
    const content = m.content;
    if (typeof content === 'string') chars += content.length;
    else if (Array.isArray(content)) {
      for (const part of content) {
        if (typeof part.text === 'string') chars += part.text.length;
        else chars += 340 * 4; // an image part: a low-detail image is ~85–765 tokens
      }
    }
    if (m.tool_calls) chars += JSON.stringify(m.tool_calls).length;
  }
  if (req.tools) chars += JSON.stringify(req.tools).length;
  return Math.ceil(chars / 4) + messages * 4 + 3;
}

/** The completion budget the request allows (for spend reservations). */
export function maxOutputTokens(req: ChatReq, fallback = 1024): number {
  return req.max_completion_tokens ?? req.max_tokens ?? fallback;
}
