import { describe, expect, it } from 'vitest';
import { DatasetQuery, fineTuningExample, type DatasetRow } from './dataset.js';

function row(request: unknown, message: unknown, extra: Record<string, unknown> = {}): DatasetRow {
  return {
    source: 'completion',
    completion_id: 'c1',
    request_json: JSON.stringify(request),
    response_json:
      message === null
        ? null
        : JSON.stringify({ choices: [{ index: 0, message, finish_reason: 'stop' }], ...extra }),
  };
}

const user = { role: 'user', content: 'hi' };

describe('fineTuningExample', () => {
  it('appends the first choice as the assistant message', () => {
    expect(
      fineTuningExample(row({ messages: [user] }, { role: 'assistant', content: 'hello', refusal: null })),
    ).toEqual({ messages: [user, { role: 'assistant', content: 'hello' }] });
  });

  it('keeps tools, parallel_tool_calls and tool calls (content omitted when null)', () => {
    const tools = [{ type: 'function', function: { name: 'f' } }];
    const example = fineTuningExample(
      row(
        { messages: [user], tools, parallel_tool_calls: true },
        {
          role: 'assistant',
          content: null,
          tool_calls: [{ id: 't', function: { name: 'f', arguments: '{}' } }],
        },
      ),
    );
    expect(example).toEqual({
      messages: [
        user,
        {
          role: 'assistant',
          tool_calls: [{ id: 't', type: 'function', function: { name: 'f', arguments: '{}' } }],
        },
      ],
      tools,
      parallel_tool_calls: true,
    });
  });

  it('skips rows with nothing to learn from', () => {
    expect(fineTuningExample(row({ messages: [user] }, null))).toBeNull();
    expect(fineTuningExample(row({ messages: [user] }, { role: 'assistant', content: '' }))).toBeNull();
    expect(fineTuningExample(row({ messages: [user] }, { role: 'assistant', content: null }))).toBeNull();
    expect(
      fineTuningExample({
        ...row({ messages: [user] }, { role: 'assistant', content: 'x' }),
        request_json: '{',
      }),
    ).toBeNull();
    expect(fineTuningExample(row({ nomessages: true }, { role: 'assistant', content: 'x' }))).toBeNull();
    expect(
      fineTuningExample({
        source: 'completion',
        completion_id: 'c',
        request_json: '{"messages":[]}',
        response_json: '{"choices":[]}',
      }),
    ).toBeNull();
  });

  it('prepends a system prompt only when the request has no system or developer message', () => {
    const answer = { role: 'assistant', content: 'a' };
    expect(fineTuningExample(row({ messages: [user] }, answer), 'Sys')?.messages).toEqual([
      { role: 'system', content: 'Sys' },
      user,
      answer,
    ]);
    const dev = { role: 'developer', content: 'Dev' };
    expect(fineTuningExample(row({ messages: [dev, user] }, answer), 'Sys')?.messages).toEqual([
      dev,
      user,
      answer,
    ]);
  });
});

describe('DatasetQuery', () => {
  it('has defaults and parses lists and instants', () => {
    expect(DatasetQuery.parse({})).toEqual({
      format: 'openai-jsonl',
      tags: [],
      tags_match: 'any',
      source: 'all',
      system_prompt: 'stored',
    });
    const q = DatasetQuery.parse({
      tags: ['a,b', ' c '],
      since: '1767225600',
      until: '2026-01-02T00:00:00Z',
    });
    expect(q.tags).toEqual(['a', 'b', 'c']);
    expect(q.since).toBe(1767225600_000);
    expect(q.until).toBe(Date.UTC(2026, 0, 2));
  });
});
