import type { FastifyInstance } from 'fastify';
import { requireAuth } from '@maniac-gateway/runtime';
import { containerView, type ContainerService, type ContainerView } from '../containers/container-service.js';

/**
 * Published Maniac clients differ in where they read a container: some from the body, some from
 * `response["data"]`. Both work: the object's fields at the top level, and the same object under `data`.
 */
function envelope(view: ContainerView): ContainerView & { data: ContainerView } {
  return { ...view, data: view };
}

export function registerContainerRoutes(app: FastifyInstance, service: ContainerService): void {
  app.post('/containers', async (request, reply) => {
    const { record, created } = await service.create(requireAuth(request).projectId, request.body);
    return reply.code(created ? 201 : 200).send(envelope(containerView(record)));
  });

  app.get<{ Querystring: { label?: string } }>('/containers', async (request) => {
    const label = typeof request.query.label === 'string' ? request.query.label : undefined;
    const data = service.list(requireAuth(request).projectId, label).map(containerView);
    return { object: 'list', data, total: data.length };
  });

  app.get<{ Params: { label: string } }>('/containers/:label', async (request) =>
    envelope(containerView(service.get(requireAuth(request).projectId, request.params.label))),
  );

  app.patch<{ Params: { label: string } }>('/containers/:label', async (request) =>
    envelope(
      containerView(await service.update(requireAuth(request).projectId, request.params.label, request.body)),
    ),
  );

  app.delete<{ Params: { label: string } }>('/containers/:label', async (request) => {
    const record = await service.remove(requireAuth(request).projectId, request.params.label);
    return { id: record.id, object: 'container.deleted', label: record.label, deleted: true };
  });
}
