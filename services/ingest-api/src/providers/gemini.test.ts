import { describe, expect, it } from 'vitest';
import { ApiError } from '@maniac-gateway/runtime';
import type { ChatReqInput } from '@maniac-gateway/schemas';
import {
  IDENTITY,
  RECORDINGS_AVAILABLE,
  chatReq,
  context,
  geminiTraces,
  runStream,
  usageChunks,
  type RecordedExchange,
} from '../../test/support/adapter-harness.js';
import { StreamProtocolError, type Json } from './adapter.js';
import {
  GeminiStreamTranslator,
  SIGNATURE_SEPARATOR,
  geminiAdapter,
  geminiError,
  geminiToOpenAi,
} from './gemini.js';
import { toChatRes } from './openai.js';

type Messages = ChatReqInput['messages'];

const ctx = (over: Parameters<typeof context>[1] = {}, provider: Parameters<typeof context>[2] = {}) =>
  context('gemini', { upstreamModel: 'gemini-2.5-flash', ...over }, provider);

function body(input: Partial<ChatReqInput>, c = ctx()): Json {
  return geminiAdapter.request(chatReq(input), c).body as Json;
}

function refusal(fn: () => unknown): ApiError {
  try {
    fn();
  } catch (err) {
    if (err instanceof ApiError) return err;
    throw err;
  }
  throw new Error('expected an ApiError');
}

// Loaded only when present, so that collecting this file never throws; the tests that use them skip otherwise.
const traces: Map<number, RecordedExchange[]> = RECORDINGS_AVAILABLE ? geminiTraces() : new Map();
function trace(n: number, i = 0): RecordedExchange {
  const ex = traces.get(n)?.[i];
  if (!ex) throw new Error(`no trace ${n}/${i}`);
  return ex;
}

/** The OpenAI tool definitions equivalent to a recorded request's functionDeclarations. */
function toolsOf(request: Json): NonNullable<ChatReqInput['tools']> {
  const decls = ((request.tools as Json[])[0]?.functionDeclarations ?? []) as Json[];
  return decls.map((d) => ({
    type: 'function' as const,
    function: {
      name: String(d.name),
      description: String(d.description),
      parameters: d.parametersJsonSchema as Record<string, unknown>,
    },
  }));
}

function systemOf(request: Json): string {
  return String(((request.systemInstruction as Json).parts as Json[])[0]?.text);
}

describe('gemini request translation', () => {
  it('calls models/{model}:generateContent, or :streamGenerateContent?alt=sse, with x-goog-api-key', () => {
    const call = geminiAdapter.request(chatReq({}), ctx({ upstreamModel: 'models/gemini-2.5-flash' }));
    expect(call.path).toBe('/models/gemini-2.5-flash:generateContent');
    expect(call.headers).toEqual({ 'x-goog-api-key': 'key-123' });
    expect(geminiAdapter.request(chatReq({}), ctx({ stream: true })).path).toBe(
      '/models/gemini-2.5-flash:streamGenerateContent?alt=sse',
    );
  });

  it.skipIf(!RECORDINGS_AVAILABLE)('reproduces the recorded request of trace 1 (temperature 0)', () => {
    const recorded = trace(1).request;
    const out = body({
      messages: [{ role: 'user', content: 'What is the capital of France? One word.' }],
      temperature: 0,
    });
    expect(out).toEqual(recorded);
  });

  it.skipIf(!RECORDINGS_AVAILABLE)(
    'round-trips the recorded function-calling conversation (trace 4), thought signature included',
    () => {
      const first = trace(4, 0);
      const second = trace(4, 1);
      const tools = toolsOf(first.request);
      const messages: Messages = [
        { role: 'system', content: systemOf(first.request) },
        { role: 'user', content: 'what is the sum of 1 + 2?' },
      ];
      const req1 = body({ messages, tools });
      expect(req1.contents).toEqual(first.request.contents);
      expect(req1.systemInstruction).toEqual(first.request.systemInstruction);
      expect(req1.generationConfig).toEqual({});
      const decl = ((first.request.tools as Json[])[0]?.functionDeclarations as Json[])[0] as Json;
      expect(req1.tools).toEqual([
        {
          functionDeclarations: [
            {
              name: decl.name,
              description: decl.description,
              parametersJsonSchema: decl.parametersJsonSchema,
            },
          ],
        },
      ]);

      const answer = toChatRes(geminiToOpenAi(first.response), IDENTITY);
      const msg = answer.choices[0]?.message;
      expect(answer.choices[0]?.finish_reason).toBe('tool_calls');
      const call = msg?.tool_calls?.[0];
      expect(call?.function).toEqual({ name: 'sum', arguments: '{"a":1,"b":2}' });
      expect(call?.id.startsWith(`call_XTGwabD8KpaxkdUP3MTwoAk_0${SIGNATURE_SEPARATOR}CssBAb4`)).toBe(true);

      const req2 = body({
        messages: [
          ...messages,
          { role: 'assistant', content: null, tool_calls: msg?.tool_calls ?? [] },
          { role: 'tool', tool_call_id: call?.id ?? '', content: '{"sum":3}' },
        ],
        tools,
      });
      expect(req2.contents).toEqual(second.request.contents);
      expect(toChatRes(geminiToOpenAi(second.response), IDENTITY).choices[0]).toMatchObject({
        message: { content: '3' },
        finish_reason: 'stop',
      });
    },
  );

  it.skipIf(!RECORDINGS_AVAILABLE)(
    'round-trips the recorded parallel calls conversation (trace 5, streamed), results merged',
    () => {
      const ex = traces.get(5) ?? [];
      const tools = toolsOf(trace(5).request);
      const streamed = (i: number) =>
        runStream(new GeminiStreamTranslator(), ex[i]?.sse ?? '').assembler.toChatRes(IDENTITY).choices[0]
          ?.message;
      const calls1 = streamed(0)?.tool_calls ?? [];
      expect(calls1.map((c) => c.function.arguments)).toEqual([
        '{"a":2,"b":3}',
        '{"a":4,"b":5}',
        '{"a":6,"b":7}',
      ]);
      expect(new Set(calls1.map((c) => c.id)).size).toBe(3);
      const calls2 = streamed(2)?.tool_calls ?? [];
      const messages: Messages = [
        { role: 'system', content: systemOf(trace(5).request) },
        { role: 'user', content: 'Can you add 2 and 3? Also 4 and 5? And 6 and 7?' },
        { role: 'assistant', content: null, tool_calls: calls1 },
        ...calls1.map((c, i) => ({
          role: 'tool' as const,
          tool_call_id: c.id,
          content: JSON.stringify({ sum: [5, 9, 13][i] }),
        })),
        { role: 'assistant', content: String(streamed(1)?.content) },
        { role: 'user', content: 'Great, now can you add 10 and 20? Also 40 and 50? And 60 and 70?' },
        { role: 'assistant', content: null, tool_calls: calls2 },
        ...calls2.map((c, i) => ({
          role: 'tool' as const,
          tool_call_id: c.id,
          content: JSON.stringify({ sum: [30, 90, 130][i] }),
        })),
      ];
      expect(body({ messages, tools }).contents).toEqual(trace(5, 3).request.contents);
    },
  );

  it('system/developer → systemInstruction; merges same-role turns; images inline and by URL', () => {
    const out = body({
      messages: [
        { role: 'system', content: 'Be brief.' },
        { role: 'developer', content: 'Metric units.' },
        { role: 'user', content: 'Look:' },
        {
          role: 'user',
          content: [
            { type: 'image_url', image_url: { url: 'data:image/webp;base64,UklGRg==' } },
            { type: 'image_url', image_url: { url: 'https://example.com/a/cat.PNG?x=1' } },
          ],
        },
        { role: 'assistant', content: 'A cat.' },
        { role: 'assistant', content: [{ type: 'text', text: 'Grey.' }] },
      ],
    });
    expect(out.systemInstruction).toEqual({
      role: 'user',
      parts: [{ text: 'Be brief.' }, { text: 'Metric units.' }],
    });
    expect(out.contents).toEqual([
      {
        role: 'user',
        parts: [
          { text: 'Look:' },
          { inlineData: { mimeType: 'image/webp', data: 'UklGRg==' } },
          { fileData: { mimeType: 'image/png', fileUri: 'https://example.com/a/cat.PNG?x=1' } },
        ],
      },
      { role: 'model', parts: [{ text: 'A cat.' }, { text: 'Grey.' }] },
    ]);
  });

  it('maps generation parameters, tool_choice, response_format and reasoning effort', () => {
    const schema = {
      type: 'object',
      properties: { a: { type: 'integer' } },
      required: ['a'],
      additionalProperties: false,
    };
    const out = body({
      temperature: 0.4,
      top_p: 0.8,
      max_tokens: 100,
      stop: ['END'],
      seed: 3,
      n: 2,
      presence_penalty: 0.1,
      frequency_penalty: 0.2,
      response_format: { type: 'json_schema', json_schema: { name: 's', schema, strict: true } },
      reasoning: { effort: 'low' },
      tools: [{ type: 'function', function: { name: 'f', parameters: { type: 'object', properties: {} } } }],
      tool_choice: { type: 'function', function: { name: 'f' } },
    });
    expect(out.generationConfig).toEqual({
      temperature: 0.4,
      topP: 0.8,
      maxOutputTokens: 100,
      stopSequences: ['END'],
      seed: 3,
      candidateCount: 2,
      presencePenalty: 0.1,
      frequencyPenalty: 0.2,
      responseMimeType: 'application/json',
      responseJsonSchema: schema,
      thinkingConfig: { thinkingBudget: 1024, includeThoughts: true },
    });
    expect(out.tools).toEqual([{ functionDeclarations: [{ name: 'f' }] }]);
    expect(out.toolConfig).toEqual({ functionCallingConfig: { mode: 'ANY', allowedFunctionNames: ['f'] } });
    const tools = [{ type: 'function' as const, function: { name: 'f' } }];
    expect(body({ tools, tool_choice: 'auto' }).toolConfig).toEqual({
      functionCallingConfig: { mode: 'AUTO' },
    });
    expect(body({ tools, tool_choice: 'none' }).toolConfig).toEqual({
      functionCallingConfig: { mode: 'NONE' },
    });
    expect(body({ tools, tool_choice: 'required' }).toolConfig).toEqual({
      functionCallingConfig: { mode: 'ANY' },
    });
    expect(body({ response_format: { type: 'json_object' } }).generationConfig).toEqual({
      responseMimeType: 'application/json',
    });
    expect(body({ reasoning_effort: 'none' }).generationConfig).toEqual({
      thinkingConfig: { thinkingBudget: 0 },
    });
  });

  it('tool results: a JSON object as is, text wrapped; unknown tool_call_id is a 400', () => {
    const history: Messages = [
      { role: 'user', content: 'x' },
      {
        role: 'assistant',
        tool_calls: [{ id: 'call_1', type: 'function', function: { name: 'lookup', arguments: '{}' } }],
      },
    ];
    const out = body({
      messages: [...history, { role: 'tool', tool_call_id: 'call_1', content: 'plain text' }],
    });
    expect((out.contents as Json[])[2]).toEqual({
      role: 'user',
      parts: [{ functionResponse: { name: 'lookup', response: { content: 'plain text' } } }],
    });
    const bad = refusal(() =>
      body({ messages: [...history, { role: 'tool', tool_call_id: 'nope', content: 'x' }] }),
    );
    expect(bad.status).toBe(400);
  });

  it('501 for what Gemini cannot honour, naming parameter and provider; dropped on request', () => {
    const cases: [string, Partial<ChatReqInput>][] = [
      ['logit_bias', { logit_bias: { '1': 5 } }],
      ['logprobs', { logprobs: true }],
      [
        'parallel_tool_calls',
        { parallel_tool_calls: false, tools: [{ type: 'function', function: { name: 'f' } }] },
      ],
      ['audio', { audio: { voice: 'x' } }],
      ['service_tier', { service_tier: 'priority' }],
    ];
    for (const [param, input] of cases) {
      const err = refusal(() => body(input));
      expect(err.status, param).toBe(501);
      expect(err.code).toBe('unsupported_parameter');
      expect(err.details).toMatchObject({ param, provider: 'gemini', kind: 'gemini' });
    }
    const dropped = body(
      { logit_bias: { '1': 5 }, temperature: 1 },
      ctx({}, { drop_unsupported_params: true }),
    );
    expect(dropped.generationConfig).toEqual({ temperature: 1 });
    expect(() => body({ user: 'u', n: 1, logprobs: false })).not.toThrow();
  });
});

describe('gemini response translation', () => {
  it.skipIf(!RECORDINGS_AVAILABLE)(
    'trace 1: text, responseId kept, usage with thoughts as reasoning tokens',
    () => {
      const res = geminiToOpenAi(trace(1).response);
      expect(res.id).toBe('xlWYafXAOKSf1e8PpcODiAg');
      expect(res.model).toBe('gemini-2.5-flash');
      const chat = toChatRes(res, IDENTITY);
      expect(chat.choices[0]).toMatchObject({
        message: { role: 'assistant', content: 'Paris' },
        finish_reason: 'stop',
      });
      expect(chat.usage).toEqual({
        prompt_tokens: 11,
        completion_tokens: 35,
        total_tokens: 46,
        prompt_tokens_details: { cached_tokens: 0 },
        completion_tokens_details: { reasoning_tokens: 34 },
      });
    },
  );

  it('thought parts → reasoning; cached tokens; finish reasons mapped', () => {
    const res = geminiToOpenAi({
      candidates: [
        {
          content: {
            role: 'model',
            parts: [{ text: 'Thinking it over.', thought: true }, { text: 'Answer.' }],
          },
          finishReason: 'MAX_TOKENS',
          index: 0,
        },
      ],
      usageMetadata: {
        promptTokenCount: 100,
        cachedContentTokenCount: 60,
        candidatesTokenCount: 10,
        thoughtsTokenCount: 5,
      },
      responseId: 'r1',
    });
    const choice = (res.choices as Json[])[0] as Json;
    expect(choice.message).toEqual({ role: 'assistant', content: 'Answer.', reasoning: 'Thinking it over.' });
    expect(choice.finish_reason).toBe('length');
    expect(res.usage).toMatchObject({
      prompt_tokens: 100,
      completion_tokens: 15,
      prompt_tokens_details: { cached_tokens: 60 },
      completion_tokens_details: { reasoning_tokens: 5 },
    });
    const finish = (finishReason: string, parts: Json[] = [{ text: 'x' }]) =>
      ((geminiToOpenAi({ candidates: [{ content: { parts }, finishReason }] }).choices as Json[])[0] as Json)
        .finish_reason;
    expect(finish('STOP')).toBe('stop');
    expect(finish('STOP', [{ functionCall: { name: 'f', args: {} } }])).toBe('tool_calls');
    expect(finish('SAFETY')).toBe('content_filter');
    expect(finish('RECITATION')).toBe('content_filter');
    expect(finish('PROHIBITED_CONTENT')).toBe('content_filter');
    expect(finish('MALFORMED_FUNCTION_CALL')).toBe('error');
    expect(finish('OTHER')).toBe('stop');
    const blocked = geminiToOpenAi({
      promptFeedback: { blockReason: 'SAFETY' },
      usageMetadata: { promptTokenCount: 4 },
    });
    expect(blocked.choices).toEqual([
      {
        index: 0,
        message: { role: 'assistant', content: null },
        finish_reason: 'content_filter',
        logprobs: null,
      },
    ]);
  });

  it('several candidates (n > 1) become choices; call ids unique across the response', () => {
    const res = geminiToOpenAi({
      candidates: [
        {
          content: { parts: [{ functionCall: { name: 'f', args: { a: 1 } } }] },
          finishReason: 'STOP',
          index: 0,
        },
        {
          content: { parts: [{ functionCall: { name: 'f', args: { a: 2 } } }] },
          finishReason: 'STOP',
          index: 1,
        },
      ],
      responseId: 'R',
    });
    const ids = (res.choices as Json[]).map(
      (c) => (((c.message as Json).tool_calls as Json[])[0] as Json).id,
    );
    expect(ids).toEqual(['call_R_0', 'call_R_1']);
  });
});

describe.skipIf(!RECORDINGS_AVAILABLE)('gemini stream translation (recorded streams)', () => {
  it('trace 2: one event carrying text, finish and usage', () => {
    const run = runStream(new GeminiStreamTranslator(), trace(2).sse ?? '');
    expect(run.done).toBe(true);
    const res = run.assembler.toChatRes(IDENTITY);
    expect(res.choices[0]?.message.content).toBe('Paris');
    expect(res.choices[0]?.finish_reason).toBe('stop');
    expect(res.usage).toMatchObject({ prompt_tokens: 11, completion_tokens: 34, total_tokens: 45 });
    expect(run.assembler.upstreamId).toBe('yFWYabnBB8Wg1e8P3ZTdiAY');
  });

  it('trace 3: many events with cumulative usage → the text in order, usage reported once', () => {
    const run = runStream(new GeminiStreamTranslator(), trace(3).sse ?? '');
    const res = run.assembler.toChatRes(IDENTITY);
    expect(res.choices[0]?.message.content).toMatch(
      /^The capital of Poland is \*\*Warsaw\*\*.*dynamic modernity\.$/s,
    );
    expect(usageChunks(run.chunks)).toHaveLength(1);
    expect(res.usage).toEqual({
      prompt_tokens: 30,
      completion_tokens: 555,
      total_tokens: 585,
      prompt_tokens_details: { cached_tokens: 0 },
      completion_tokens_details: { reasoning_tokens: 30 },
    });
    const finishes = run.chunks
      .flatMap((c) => (c.choices as Json[]).map((ch) => ch.finish_reason))
      .filter(Boolean);
    expect(finishes).toEqual(['stop']);
  });

  it('trace 5: parallel function calls → tool_calls indexes 0..2 with ids, finish tool_calls', () => {
    const run = runStream(new GeminiStreamTranslator(), trace(5).sse ?? '');
    const deltas = run.chunks.flatMap((c) =>
      (c.choices as Json[]).flatMap((ch) => ((ch.delta as Json).tool_calls as Json[] | undefined) ?? []),
    );
    expect(deltas.map((d) => d.index)).toEqual([0, 1, 2]);
    const res = run.assembler.toChatRes(IDENTITY);
    expect(res.choices[0]?.finish_reason).toBe('tool_calls');
    expect(res.choices[0]?.message.tool_calls?.map((t) => t.id.split(SIGNATURE_SEPARATOR)[0])).toEqual([
      'call_ZiS5ae3fFoSAkdUPnfrxqQU_0',
      'call_ZiS5ae3fFoSAkdUPnfrxqQU_1',
      'call_ZiS5ae3fFoSAkdUPnfrxqQU_2',
    ]);
    expect(res.usage).toMatchObject({
      prompt_tokens: 171,
      completion_tokens: 131,
      completion_tokens_details: { reasoning_tokens: 77 },
    });
  });

  it('an error event → StreamProtocolError; a stream without finishReason is not done', () => {
    expect(() =>
      runStream(
        new GeminiStreamTranslator(),
        'data: {"error":{"code":503,"message":"The model is overloaded.","status":"UNAVAILABLE"}}\r\n\r\n',
      ),
    ).toThrow(new StreamProtocolError('UNAVAILABLE: The model is overloaded.', 'upstream_stream_error'));
    const partial = (trace(3).sse ?? '').split('\r\n\r\n').slice(0, 3).join('\r\n\r\n') + '\r\n\r\n';
    const run = runStream(new GeminiStreamTranslator(), partial);
    expect(run.done).toBe(false);
    expect(run.assembler.finished()).toBe(false);
    expect(usageChunks(run.chunks)).toHaveLength(0);
  });
});

describe('gemini errors', () => {
  it.skipIf(!RECORDINGS_AVAILABLE)(
    'RESOURCE_EXHAUSTED retries, INVALID_ARGUMENT does not, an invalid key does',
    () => {
      const body = (code: number, status: string, message: string, reason?: string) =>
        JSON.stringify({
          error: {
            code,
            message,
            status,
            ...(reason ? { details: [{ '@type': 'type.googleapis.com/google.rpc.ErrorInfo', reason }] } : {}),
          },
        });
      expect(geminiError(429, body(429, 'RESOURCE_EXHAUSTED', 'Quota exceeded'))).toEqual({
        message: 'Quota exceeded',
        type: 'RESOURCE_EXHAUSTED',
        retryable: true,
      });
      expect(
        geminiError(400, body(400, 'INVALID_ARGUMENT', 'The input token count exceeds the maximum'))
          .retryable,
      ).toBe(false);
      expect(
        geminiError(400, body(400, 'INVALID_ARGUMENT', 'API key not valid.', 'API_KEY_INVALID')).retryable,
      ).toBe(true);
      expect(
        geminiError(400, body(400, 'FAILED_PRECONDITION', 'User location is not supported')).retryable,
      ).toBe(true);
      const recorded = trace(6);
      expect(recorded.status).toBe(401);
      expect(geminiError(401, JSON.stringify(recorded.response))).toMatchObject({
        type: 'UNAUTHENTICATED',
        retryable: true,
      });
    },
  );
});
