import { randomBytes } from 'node:crypto';
import { z } from 'zod';
import { validate, type ContainerRecord } from '@maniac-gateway/schemas';
import { ApiError, ValidationFailure, type ControlPlane } from '@maniac-gateway/runtime';
import { canonicalSlug, parseSlug, CONTAINER_PROVIDER } from '../routing.js';
import type { ContainerDirectory } from './container-directory.js';
import type { ContainerStats } from './container-stats.js';

const LABEL = z
  .string()
  .regex(/^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/, 'letters, digits, ".", "_" and "-"; at most 128 characters');
const Params = z.record(z.string(), z.unknown());

/** Create body: the spellings published clients send are all accepted. */
const CreateContainer = z.looseObject({
  label: LABEL,
  model: z.string().min(1).optional(),
  initial_model: z.string().min(1).optional(),
  default_system_prompt: z.string().nullable().optional(),
  initial_system_prompt: z.string().nullable().optional(),
  instructions: z.string().nullable().optional(),
  system_prompt: z.string().nullable().optional(),
  api: z.unknown().optional(),
  fallback_models: z.array(z.string().min(1)).nullable().optional(),
  params: Params.nullable().optional(),
  /** The Python client's spelling of `params`. */
  default_parameters: Params.nullable().optional(),
  tags: z.array(z.string()).nullable().optional(),
});

/** Update body; the Python client (0.5) sends `default_model`, `default_system_prompt`, `default_parameters`. */
const UpdateContainer = z.strictObject({
  label: LABEL.optional(),
  model: z.string().min(1).optional(),
  default_model: z.string().min(1).optional(),
  fallback_models: z.array(z.string().min(1)).optional(),
  system_prompt: z.string().nullable().optional(),
  default_system_prompt: z.string().nullable().optional(),
  params: Params.optional(),
  default_parameters: Params.optional(),
  tags: z.array(z.string()).optional(),
});

export interface ContainerView {
  id: string;
  object: 'container';
  project_id: string;
  label: string;
  api: 'chat.completions';
  model: string;
  fallback_models: string[];
  system_prompt: string | null;
  params: Record<string, unknown>;
  /** Same as `system_prompt` and `params`, under the names the Maniac Python client reads. */
  default_system_prompt: string | null;
  default_parameters: Record<string, unknown>;
  tags: string[];
  created_at: number;
  updated_at: number;
  /** Counters from the usage rollups; null when they could not be read (ClickHouse unreachable). */
  stats: ContainerStats | null;
}

export function containerView(record: ContainerRecord, stats: ContainerStats | null = null): ContainerView {
  let params: Record<string, unknown> = {};
  try {
    params = JSON.parse(record.params_json) as Record<string, unknown>;
  } catch {
    params = {};
  }
  return {
    id: record.id,
    object: 'container',
    project_id: record.project_id,
    label: record.label,
    api: 'chat.completions',
    model: record.model,
    fallback_models: record.fallback_models,
    system_prompt: record.system_prompt,
    params,
    default_system_prompt: record.system_prompt,
    default_parameters: params,
    tags: record.tags,
    created_at: Math.floor(record.created_ms / 1000),
    updated_at: Math.floor(record.updated_ms / 1000),
    stats,
  };
}

function notFound(label: string): ApiError {
  return new ApiError(404, 'container_not_found', `Container '${label}' not found`, { container: label });
}

/**
 * Containers as a run-time resource of a project, stored on the control topic: every instance routes with a
 * change within about a second of it being made.
 */
export class ContainerService {
  constructor(
    private readonly controlPlane: ControlPlane,
    private readonly directory: ContainerDirectory,
    private readonly hasProvider: (name: string) => boolean,
  ) {}

  /** A routable canonical slug, or a 400 saying why not. */
  private routableModel(slug: string, field: string): string {
    const parsed = parseSlug(slug);
    if (!parsed || parsed.provider === CONTAINER_PROVIDER) {
      throw new ApiError(400, 'model_not_routable', `'${slug}' is not a provider/model slug`, {
        field,
        model: slug,
      });
    }
    if (!this.hasProvider(parsed.provider)) {
      throw new ApiError(
        400,
        'model_not_routable',
        `Cannot route '${slug}': provider '${parsed.provider}' is not configured on this gateway`,
        { field, model: slug, provider: parsed.provider },
      );
    }
    return canonicalSlug(parsed.provider, parsed.model);
  }

  list(projectId: string, label?: string): ContainerRecord[] {
    const all = this.controlPlane.containers(projectId).sort((a, b) => a.created_ms - b.created_ms);
    return label === undefined ? all : all.filter((c) => c.label === label);
  }

  get(projectId: string, label: string): ContainerRecord {
    const record = this.controlPlane.container(projectId, label);
    if (!record) throw notFound(label);
    return record;
  }

  /** Get-or-create by label: `created` false returns the existing container as it is. */
  async create(projectId: string, body: unknown): Promise<{ record: ContainerRecord; created: boolean }> {
    const parsed = validate(CreateContainer, body, 'body');
    if (!parsed.ok) throw new ValidationFailure(parsed.detail);
    const input = parsed.value;
    const existing = this.controlPlane.container(projectId, input.label);
    if (existing) return { record: existing, created: false };
    const configured = this.directory.configDefined(input.label);
    const model = input.model ?? input.initial_model ?? configured?.model;
    if (!model) {
      throw new ValidationFailure([{ loc: ['body', 'model'], msg: 'Field required', type: 'missing' }]);
    }
    const now = Date.now();
    const record: ContainerRecord = {
      id: `ctr_${randomBytes(8).toString('hex')}`,
      project_id: projectId,
      label: input.label,
      model: this.routableModel(model, 'model'),
      fallback_models: (input.fallback_models ?? configured?.fallback_models ?? []).map((m, i) =>
        this.routableModel(m, `fallback_models[${i}]`),
      ),
      system_prompt:
        input.system_prompt ??
        input.default_system_prompt ??
        input.initial_system_prompt ??
        input.instructions ??
        configured?.system_prompt ??
        null,
      params_json: JSON.stringify(input.params ?? input.default_parameters ?? configured?.params ?? {}),
      tags: input.tags ?? [],
      created_ms: now,
      updated_ms: now,
      deleted_ms: null,
    };
    await this.controlPlane.putContainer(record);
    return { record, created: true };
  }

  async update(projectId: string, label: string, body: unknown): Promise<ContainerRecord> {
    const current = this.get(projectId, label);
    const parsed = validate(UpdateContainer, body, 'body');
    if (!parsed.ok) throw new ValidationFailure(parsed.detail);
    const { default_model, default_system_prompt, default_parameters, ...rest } = parsed.value;
    const patch = {
      ...rest,
      model: rest.model ?? default_model,
      system_prompt: rest.system_prompt !== undefined ? rest.system_prompt : default_system_prompt,
      params: rest.params ?? default_parameters,
    };
    if (patch.label !== undefined && patch.label !== current.label) {
      if (this.controlPlane.container(projectId, patch.label)) {
        throw new ApiError(
          409,
          'container_conflict',
          `A container labelled '${patch.label}' already exists`,
          {
            container: patch.label,
          },
        );
      }
    }
    const next: ContainerRecord = {
      ...current,
      label: patch.label ?? current.label,
      model: patch.model !== undefined ? this.routableModel(patch.model, 'model') : current.model,
      fallback_models:
        patch.fallback_models !== undefined
          ? patch.fallback_models.map((m, i) => this.routableModel(m, `fallback_models[${i}]`))
          : current.fallback_models,
      system_prompt: patch.system_prompt !== undefined ? patch.system_prompt : current.system_prompt,
      params_json: patch.params !== undefined ? JSON.stringify(patch.params) : current.params_json,
      tags: patch.tags ?? current.tags,
      updated_ms: Date.now(),
    };
    return this.controlPlane.putContainer(next);
  }

  /** Soft delete: the label stops routing; its telemetry stays queryable. */
  async remove(projectId: string, label: string): Promise<ContainerRecord> {
    const current = this.get(projectId, label);
    const now = Date.now();
    return this.controlPlane.putContainer({ ...current, deleted_ms: now, updated_ms: now });
  }
}
