import { describe, expect, it } from 'vitest';
import { Progress, toRegisterItem } from './datasets.js';

const user = { role: 'user', content: 'q' };
const answer = { role: 'assistant', content: 'a' };

describe('toRegisterItem', () => {
  it('turns a fine-tuning line into input (all but the answer) and output (the answer)', () => {
    const tools = [{ type: 'function', function: { name: 'f' } }];
    const result = toRegisterItem({ messages: [user, { ...answer, weight: 1 }], tools }, 'bot');
    expect(result.ok).toBe(true);
    if (!result.ok) return;
    expect(result.item.input).toEqual({ messages: [user], tools });
    expect(result.item.output).toMatchObject({
      choices: [{ index: 0, message: answer, finish_reason: 'stop' }],
    });
  });

  it('derives a stable id from the line and the container', () => {
    const id = (value: unknown, label: string) => {
      const r = toRegisterItem(value, label);
      return r.ok ? (r.item.output as { id: string }).id : null;
    };
    const line = { messages: [user, answer] };
    expect(id(line, 'a')).toBe(id({ messages: [user, answer] }, 'a'));
    expect(id(line, 'a')).not.toBe(id(line, 'b'));
    expect(id(line, 'a')).toMatch(/^imp-[0-9a-f]{32}$/);
  });

  it('marks tool-call answers, makes input-only items, passes register items through, rejects the rest', () => {
    const call = {
      role: 'assistant',
      tool_calls: [{ id: 't', type: 'function', function: { name: 'f', arguments: '' } }],
    };
    const r = toRegisterItem({ messages: [user, call] }, 'x');
    expect(
      r.ok && (r.item.output as { choices: { finish_reason: string }[] }).choices[0]?.finish_reason,
    ).toBe('tool_calls');
    expect(toRegisterItem({ messages: [user] }, 'x')).toEqual({
      ok: true,
      item: { input: { messages: [user] } },
    });
    const item = { input: { messages: [user] }, output: null, tags: ['t'] };
    expect(toRegisterItem(item, 'x')).toEqual({ ok: true, item });
    expect(toRegisterItem([1], 'x').ok).toBe(false);
    expect(toRegisterItem({ prompt: 'p' }, 'x').ok).toBe(false);
  });
});

describe('Progress.bar', () => {
  it('draws a bar with a percentage, clamped', () => {
    expect(Progress.bar(0.5, 10)).toBe('[#####.....]  50%');
    expect(Progress.bar(2, 4)).toBe('[####] 100%');
    expect(Progress.bar(-1, 4)).toBe('[....]   0%');
  });
});
