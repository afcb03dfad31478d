import { Readable } from 'node:stream';
import { ApiError, ErrorCodes, requireAuth, ValidationFailure } from '@maniac-gateway/runtime';
import { validate } from '@maniac-gateway/schemas';
import type { FastifyInstance } from 'fastify';
import {
  DatasetExporter,
  DatasetQuery,
  datasetFilter,
  resolveDatasetContainer,
  type DatasetChunk,
  type DatasetExporterOptions,
} from './dataset.js';
import type { QueryApiOptions } from './plugin.js';

/**
 * `GET /containers/{label}/dataset?format=openai-jsonl&since&until&tags&tags_match&source&system_prompt`: the
 * container's dataset as fine-tuning JSONL, streamed with back-pressure (see {@link DatasetExporter}). The plan and
 * the first window's query run before the status is sent, so an unreachable ClickHouse is a JSON error, not an
 * empty 200; a failure after the first byte aborts the response (never a silently truncated file).
 */
export function registerDatasetRoute(
  app: FastifyInstance,
  options: QueryApiOptions & { dataset?: DatasetExporterOptions },
): void {
  const exporter = new DatasetExporter(
    options.clickhouse,
    options.config.clickhouse.database,
    options.dataset,
  );

  app.get<{ Params: { label: string } }>('/containers/:label/dataset', async (request, reply) => {
    const { projectId } = requireAuth(request);
    const parsed = validate(DatasetQuery, request.query ?? {}, 'query');
    if (!parsed.ok) throw new ValidationFailure(parsed.detail);
    const query = parsed.value;
    if (query.since !== undefined && query.until !== undefined && query.since >= query.until) {
      throw new ValidationFailure([
        { type: 'value_error', loc: ['query', 'since'], msg: 'Value error, `since` must be before `until`' },
      ]);
    }
    const label = request.params.label;
    const container = resolveDatasetContainer(
      options.controlPlane,
      options.config.containers,
      projectId,
      label,
    );
    if (!container) {
      // Another project's container is "not found" too.
      throw new ApiError(404, ErrorCodes.containerNotFound, `Container '${label}' not found`, {
        container: label,
      });
    }
    const filter = datasetFilter(projectId, container.label, query);
    const windows = await exporter.plan(filter);
    const chunks = exporter.chunks(filter, {
      windows,
      systemPrompt: query.system_prompt === 'container' ? container.systemPrompt : null,
    });
    const first = await chunks.next();
    async function* body(head: IteratorResult<DatasetChunk>): AsyncGenerator<string> {
      try {
        if (head.done) return;
        yield head.value.text;
        for await (const chunk of chunks) yield chunk.text;
      } finally {
        // A client that leaves early (even during the first chunk) ends the ClickHouse query too.
        await chunks.return(undefined);
      }
    }
    return reply
      .header('content-type', 'application/x-ndjson; charset=utf-8')
      .header('content-disposition', `attachment; filename="${container.label}.jsonl"`)
      .send(Readable.from(body(first), { objectMode: false }));
  });
}
