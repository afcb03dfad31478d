/**
 * The Node floor: the least any Node gateway does per request — Fastify parses the JSON body, undici forwards it
 * to the upstream (keep-alive pool), the JSON reply is parsed, two fields are added, and it is serialised back.
 * Streams (`"stream": true`) are piped through untouched. No auth, no validation, no events, no logging.
 *
 *   node --import tsx bench/node-floor.ts --upstream http://127.0.0.1:PORT [--port 0]
 *
 * Prints `listening <port>` on stdout once ready.
 */
import { parseArgs } from 'node:util';
import Fastify from 'fastify';
import { Pool } from 'undici';

const { values } = parseArgs({
  options: {
    upstream: { type: 'string' },
    port: { type: 'string', default: '0' },
    connections: { type: 'string', default: '1024' },
  },
});
if (!values.upstream) throw new Error('--upstream is required');

const upstream = new Pool(values.upstream, { connections: Number(values.connections), pipelining: 1 });
const app = Fastify({ logger: false, bodyLimit: 20 * 1024 * 1024 });

app.post('/v1/chat/completions', async (request, reply) => {
  const body = request.body as { stream?: boolean };
  const res = await upstream.request({
    path: '/v1/chat/completions',
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: 'Bearer sk-bench' },
    body: JSON.stringify(body),
  });
  reply.code(res.statusCode);
  if (body.stream) {
    reply.header('content-type', 'text/event-stream');
    return reply.send(res.body);
  }
  const json = (await res.body.json()) as Record<string, unknown>;
  json.provider = 'openai';
  json.container = null;
  return json;
});

const address = await app.listen({ port: Number(values.port), host: '127.0.0.1' });
console.log(`listening ${new URL(address).port}`);
const stop = () => void app.close().then(() => process.exit(0));
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
