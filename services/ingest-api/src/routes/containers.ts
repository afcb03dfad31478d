import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import type { ContainerRecord } from '@maniac-gateway/schemas';
import { queryInt, validate } from '@maniac-gateway/schemas';
import { requireAuth, ValidationFailure } from '@maniac-gateway/runtime';
import { containerView, type ContainerService, type ContainerView } from '../containers/container-service.js';
import type { ContainerStatsSource } from '../containers/container-stats.js';

/**
 * Published Maniac clients differ in where they read a container: some from the body, some from
 * `response["data"]`. Both work: the object's fields at the top level, and the same object under `data`.
 */
function envelope(view: ContainerView): ContainerView & { data: ContainerView } {
  return { ...view, data: view };
}

function lastValue(value: unknown): unknown {
  return Array.isArray(value) ? value.at(-1) : value;
}

/** `?label=` filter, and the `limit`/`offset` the Python client sends (without `limit`: every container). */
const ListQuery = z.object({
  label: z.preprocess(lastValue, z.string()).optional(),
  limit: queryInt(z.number().int().min(1).max(1000)).optional(),
  offset: queryInt(z.number().int().min(0)).default(0),
});

export function registerContainerRoutes(
  app: FastifyInstance,
  service: ContainerService,
  stats?: ContainerStatsSource,
): void {
  /** Views with their counters (null counters if ClickHouse cannot answer; never an error). */
  async function views(projectId: string, records: ContainerRecord[]): Promise<ContainerView[]> {
    const counters = stats
      ? await stats.forLabels(
          projectId,
          records.map((r) => r.label),
        )
      : null;
    return records.map((r) => containerView(r, counters?.get(r.label) ?? null));
  }
  async function one(projectId: string, record: ContainerRecord) {
    const [view] = await views(projectId, [record]);
    return envelope(view ?? containerView(record));
  }

  app.post('/containers', async (request, reply) => {
    const { projectId } = requireAuth(request);
    const { record, created } = await service.create(projectId, request.body);
    return reply.code(created ? 201 : 200).send(await one(projectId, record));
  });

  app.get('/containers', async (request) => {
    const { projectId } = requireAuth(request);
    const parsed = validate(ListQuery, request.query ?? {}, 'query');
    if (!parsed.ok) throw new ValidationFailure(parsed.detail);
    const { label, limit, offset } = parsed.value;
    const all = service.list(projectId, label);
    const page = all.slice(offset, limit === undefined ? undefined : offset + limit);
    return { object: 'list', data: await views(projectId, page), total: all.length };
  });

  app.get<{ Params: { label: string } }>('/containers/:label', async (request) => {
    const { projectId } = requireAuth(request);
    return one(projectId, service.get(projectId, request.params.label));
  });

  app.patch<{ Params: { label: string } }>('/containers/:label', async (request) => {
    const { projectId } = requireAuth(request);
    return one(projectId, await service.update(projectId, request.params.label, request.body));
  });

  app.delete<{ Params: { label: string } }>('/containers/:label', async (request) => {
    const record = await service.remove(requireAuth(request).projectId, request.params.label);
    return { id: record.id, object: 'container.deleted', label: record.label, deleted: true };
  });
}
