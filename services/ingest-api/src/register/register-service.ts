import { createHash } from 'node:crypto';
import { z } from 'zod';
import {
  EventEncodeError,
  Item,
  toValidationDetail,
  validate,
  type ChatResRelaxedInput,
  type CompletionEvent,
  type Item as ItemType,
} from '@maniac-gateway/schemas';
import {
  ApiError,
  ErrorCodes,
  ValidationFailure,
  type AuthContext,
  type Logger,
} from '@maniac-gateway/runtime';
import { canonicalSlug, parseSlug, CONTAINER_PROVIDER } from '../routing.js';
import { usageRecord } from '../completion/event-builder.js';
import { newCompletionId } from '../completion/identity.js';
import type { EventSink } from '../completion/service.js';
import type { PriceBook } from '../pricing/price-book.js';
import type { ExistingIds } from './existing-ids.js';

const MAX_ERRORS = 200;

/** The envelope only: items are validated one by one so a bad item never fails the batch. */
const Envelope = z.strictObject({ container: z.string(), items: z.array(z.unknown()) });
const LegacyEnvelope = z.strictObject({ container: z.string(), dataset: z.array(z.unknown()) });

export interface RegisterSummary {
  received: number;
  inserted: number;
  skipped: number;
  failed: number;
}

export interface RegisterResult {
  ok: boolean;
  container: string;
  summary: RegisterSummary & { dedup_checked: boolean };
  errors: Record<string, unknown>[];
}

export interface RegisterDeps {
  events: EventSink;
  prices: PriceBook;
  existing: ExistingIds;
  hasContainer: (projectId: string, label: string) => boolean;
  logger: Logger;
}

/** A stable event id for a registered example, so a re-sent item is the same event (belt and braces). */
function registerEventId(projectId: string, completionId: string): string {
  const h = createHash('sha256').update(`register\0${projectId}\0${completionId}`).digest('hex');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-5${h.slice(13, 16)}-a${h.slice(17, 20)}-${h.slice(20, 32)}`;
}

function createdMs(output: ChatResRelaxedInput | null | undefined, nowMs: number): number {
  const created = output?.created;
  if (typeof created === 'number' && Number.isFinite(created) && created > 0) {
    // Unix seconds per the spec; tolerate milliseconds.
    return created > 1e11 ? Math.round(created) : Math.round(created * 1000);
  }
  return nowMs;
}

/**
 * POST /chat/completions/register: validates each example on its own, skips ids the project already has (or
 * that repeat within the batch), and emits the rest as `register` events — stored and listed like captured
 * completions.
 */
export class RegisterService {
  constructor(private readonly deps: RegisterDeps) {}

  parseEnvelope(body: unknown, legacy: boolean): { container: string; items: unknown[] } {
    if (legacy) {
      const parsed = validate(LegacyEnvelope, body, 'body');
      if (!parsed.ok) throw new ValidationFailure(parsed.detail);
      return { container: parsed.value.container, items: parsed.value.dataset };
    }
    const parsed = validate(Envelope, body, 'body');
    if (!parsed.ok) throw new ValidationFailure(parsed.detail);
    return parsed.value;
  }

  async register(
    body: unknown,
    auth: AuthContext,
    requestId: string,
    legacy = false,
  ): Promise<RegisterResult> {
    const { container, items } = this.parseEnvelope(body, legacy);
    if (!this.deps.hasContainer(auth.projectId, container)) {
      throw new ApiError(404, ErrorCodes.containerNotFound, `Container '${container}' not found`, {
        container,
      });
    }
    const field = legacy ? 'dataset' : 'items';
    const errors: Record<string, unknown>[] = [];
    let failed = 0;
    const valid: { index: number; item: ItemType; completionId: string; explicitId: boolean }[] = [];
    items.forEach((raw, index) => {
      const result = Item.safeParse(raw);
      if (!result.success) {
        failed++;
        for (const d of toValidationDetail(result.error, 'body', { input: raw })) {
          if (errors.length >= MAX_ERRORS) break;
          errors.push({
            index,
            loc: ['body', field, index, ...d.loc.slice(1)],
            message: d.msg,
            type: d.type,
          });
        }
        return;
      }
      const id = result.data.output?.id;
      valid.push({
        index,
        item: result.data,
        completionId: id ?? newCompletionId(),
        explicitId: Boolean(id),
      });
    });

    // Idempotent re-upload: ids already stored for this project, or repeated within the batch, are skipped.
    let dedupChecked = true;
    let stored = new Set<string>();
    const explicitIds = [...new Set(valid.filter((v) => v.explicitId).map((v) => v.completionId))];
    if (explicitIds.length > 0) {
      try {
        stored = await this.deps.existing.find(auth.projectId, explicitIds);
      } catch (err) {
        dedupChecked = false;
        this.deps.logger.warn(
          { err },
          'register: could not check existing ids in ClickHouse; inserting anyway',
        );
      }
    }
    const seen = new Set<string>();
    let skipped = 0;
    let inserted = 0;
    const nowMs = Date.now();
    for (const v of valid) {
      if (v.explicitId && (stored.has(v.completionId) || seen.has(v.completionId))) {
        skipped++;
        continue;
      }
      try {
        // Usage a registered example claims must be storable exactly (the chat path records unstorable upstream
        // usage as unknown instead; here the client sent it, so it is told).
        const usage = v.item.output?.usage;
        if (usage && usageRecord(usage) === null) {
          throw new EventEncodeError('register item', [
            'output.usage (token counts must be integers from 0 to 2^53)',
          ]);
        }
        this.deps.events.emit(this.toEvent(v.item, v.completionId, container, auth, requestId, nowMs));
      } catch (err) {
        // A value the event schema cannot hold (e.g. a token count beyond a 64-bit long): this item fails,
        // the others are kept. Nothing was enqueued (emit encodes before it enqueues).
        if (!(err instanceof EventEncodeError)) throw err;
        failed++;
        if (errors.length < MAX_ERRORS) {
          errors.push({
            index: v.index,
            loc: ['body', field, v.index],
            message: `Value error, cannot be stored: ${err.paths.join(', ') || err.message}`,
            type: 'value_error',
          });
        }
        continue;
      }
      seen.add(v.completionId);
      inserted++;
    }
    return {
      ok: true,
      container,
      summary: { received: items.length, inserted, skipped, failed, dedup_checked: dedupChecked },
      errors,
    };
  }

  private toEvent(
    item: ItemType,
    completionId: string,
    container: string,
    auth: AuthContext,
    requestId: string,
    nowMs: number,
  ): CompletionEvent {
    const output = item.output ?? null;
    const slug = output?.model ?? item.input.model ?? null;
    const parsed = slug ? parseSlug(slug) : null;
    const external = parsed && parsed.provider !== CONTAINER_PROVIDER ? parsed : null;
    const provider = output?.provider ?? external?.provider ?? null;
    const model = external ? canonicalSlug(external.provider, external.model) : slug;
    const usage = usageRecord(output?.usage ?? null);
    const metadata = item.metadata ?? item.input.metadata ?? null;
    const finish = output?.choices[0]?.finish_reason;
    return {
      event_id: registerEventId(auth.projectId, completionId),
      source: 'register',
      completion_id: completionId,
      project_id: auth.projectId,
      key_id: auth.keyId,
      request_id: requestId,
      container,
      model,
      provider,
      upstream_model: external?.model ?? null,
      upstream_id: null,
      stream: false,
      status: 'success',
      http_status: 200,
      error_code: null,
      error_message: null,
      finish_reason: typeof finish === 'string' ? finish : null,
      usage,
      spend_nanos: external ? this.deps.prices.spendNanos(external.provider, external.model, usage) : null,
      latency_ms: 0,
      ttft_ms: null,
      attempts: [],
      tags: item.tags ?? item.input.tags ?? [],
      metadata_json: metadata ? JSON.stringify(metadata) : null,
      trace_json: item.input.trace ? JSON.stringify(item.input.trace) : null,
      request_json: JSON.stringify(item.input),
      response_json: output ? JSON.stringify({ ...output, id: completionId }) : null,
      created_ms: createdMs(output, nowMs),
    };
  }
}
