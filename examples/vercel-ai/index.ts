/**
 * The Vercel AI SDK's OpenAI-compatible provider against a self-hosted gateway: generateText and streamText
 * through `maniac:<label>`, Maniac extensions (tags, metadata) as provider options, and the `/api/v1` prefix with
 * the `maniac-apikey` header. The container is created and the results are listed over plain HTTP (the SDK has no
 * API for those).
 *
 *   cd examples/vercel-ai && npm install
 *   MANIAC_API_KEY=<key> MANIAC_BASE_URL=http://127.0.0.1:8080 npx tsx examples/vercel-ai/index.ts
 *
 * Exits non-zero on the first thing that does not work.
 */
import { createOpenAICompatible } from '@ai-sdk/openai-compatible';
import { generateText, streamText } from 'ai';

const key = process.env.MANIAC_API_KEY ?? '';
const base = (process.env.MANIAC_BASE_URL ?? 'http://127.0.0.1:8080').replace(/\/$/, '');
const model = process.env.EXAMPLE_MODEL ?? 'openai/gpt-4o-mini';

function check(condition: unknown, what: string): void {
  if (!condition) {
    console.error(`FAILED: ${what}`);
    process.exit(1);
  }
  console.log(`ok: ${what}`);
}

async function api(method: string, path: string, body?: unknown): Promise<Record<string, unknown>> {
  const res = await fetch(`${base}${path}`, {
    method,
    headers: {
      authorization: `Bearer ${key}`,
      ...(body === undefined ? {} : { 'content-type': 'application/json' }),
    },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  const json = (await res.json()) as Record<string, unknown>;
  if (!res.ok) throw new Error(`${method} ${path}: ${res.status} ${JSON.stringify(json)}`);
  return json;
}

async function poll<T>(fn: () => Promise<T | undefined>, what: string, timeoutMs = 30_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await fn();
    if (value !== undefined) return value;
    if (Date.now() > deadline) check(false, `${what} (within ${timeoutMs / 1000} s)`);
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
}

const label = `vercel-${Date.now() % 10_000_000}`;
const created = await api('POST', '/v1/containers', {
  label,
  model,
  system_prompt: 'Answer in one sentence.',
});
check(created.label === label, `container ${label} created`);

// Bearer key on /v1, as with any OpenAI-compatible server.
const gateway = createOpenAICompatible({
  name: 'maniac',
  baseURL: `${base}/v1`,
  apiKey: key,
  includeUsage: true,
});

const generated = await generateText({
  model: gateway(`maniac:${label}`),
  prompt: 'Say hello.',
  // Maniac extensions go into the request body through the provider's options.
  providerOptions: { maniac: { tags: ['vercel-ai'], metadata: { sdk: 'ai' } } },
});
check(generated.text.length > 0, 'generateText through maniac:<label>');
check((generated.usage.inputTokens ?? 0) > 0, 'generateText reports usage');

// The /api/v1 prefix with the maniac-apikey header instead of Bearer.
const viaHeader = createOpenAICompatible({
  name: 'maniac',
  baseURL: `${base}/api/v1`,
  headers: { 'maniac-apikey': key },
  includeUsage: true,
});
const streamed = streamText({ model: viaHeader.chatModel(`maniac:${label}`), prompt: 'Stream a hello.' });
let text = '';
for await (const delta of streamed.textStream) text += delta;
check(text.length > 0, 'streamText through maniac:<label> (/api/v1, maniac-apikey)');
check(((await streamed.usage).outputTokens ?? 0) > 0, 'streamText reports usage');

const listed = await poll(async () => {
  const page = await api('GET', `/v1/chat/completions?container=${label}&limit=100`);
  return (page.total as number) >= 2 ? page : undefined;
}, 'both completions listed');
const tagged = (listed.data as { tags: string[] | null; metadata: Record<string, unknown> | null }[]).find(
  (c) => c.tags?.includes('vercel-ai'),
);
check(tagged?.metadata?.sdk === 'ai', 'tags and metadata stored');

const registered = await api('POST', '/v1/chat/completions/register', {
  container: label,
  items: [
    {
      input: { messages: [{ role: 'user', content: 'example' }] },
      output: { choices: [{ message: { role: 'assistant', content: 'answer' } }] },
    },
  ],
});
check((registered.summary as { inserted: number }).inserted === 1, 'register');

const stats = await poll(async () => {
  const c = await api('GET', `/v1/containers/${label}`);
  const s = c.stats as { completions: number; registered_examples: number } | null;
  return s && s.completions >= 2 && s.registered_examples >= 1 ? s : undefined;
}, 'container counters');
console.log(`   counters: ${JSON.stringify(stats)}`);

const dataset = await poll(async () => {
  const res = await fetch(`${base}/v1/containers/${label}/dataset?format=openai-jsonl`, {
    headers: { authorization: `Bearer ${key}` },
  });
  const lines = (await res.text()).split('\n').filter((l) => l !== '');
  return lines.length >= 3 ? lines : undefined;
}, 'dataset export');
check(JSON.parse(dataset[0] ?? '{}').messages?.length >= 2, 'dataset lines are {"messages":[…]}');
console.log('vercel-ai: all checks passed');
