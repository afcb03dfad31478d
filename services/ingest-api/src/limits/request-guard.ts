import type { ApiKeyRecord, ChatReq, ProjectRecord } from '@maniac-gateway/schemas';
import { ApiError, type GatewayConfig, type Logger } from '@maniac-gateway/runtime';
import type { Counter } from 'prom-client';
import { CONTAINER_PROVIDER, parseSlug, type RoutePlan } from '../routing.js';
import type { CounterStore, LimitCheck, LimitName, LimitScope } from './counter-store.js';
import type { BudgetTracker } from './budget.js';
import { estimatePromptTokens, maxOutputTokens } from './estimate.js';

export interface Admission {
  /** X-RateLimit-* for the tightest request limit (empty when none applies). */
  headers: Record<string, string>;
  /**
   * Settles token and spend reservations with what the request really used. A request cut short before usage
   * was reported (`interrupted`, e.g. a client that left mid-stream) is charged its reservation.
   */
  settle(totalTokens: number | null, spendNanos: number | null, interrupted?: boolean): void;
  /** Gives back the concurrency slot (idempotent). */
  release(): void;
}

export interface GuardMetrics {
  refused: Counter<'limit' | 'scope'>;
  limiterErrors: Counter;
}

export interface GuardDeps {
  store: CounterStore;
  budgets: BudgetTracker;
  limits: GatewayConfig['limits'];
  estimateSpend: (plan: RoutePlan, promptTokens: number, outputTokens: number) => number | null;
  metrics: GuardMetrics;
  logger: Logger;
}

/** null on the record → the config default; 0 → explicitly unlimited. */
function effective(value: number | null, fallback: number | null): number | null {
  const v = value ?? fallback;
  return v === null || v <= 0 ? null : v;
}

function globToRegExp(glob: string): RegExp {
  const escaped = glob.replace(/[.+?^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '.*');
  return new RegExp(`^${escaped}$`, 'i');
}

const WINDOW_MS = 60_000;

/**
 * Everything a chat request must pass before an upstream is called, in memory or one Redis round trip: the key's
 * model/container allow-lists (403), the project's spend budget (402), and requests/tokens per minute and
 * concurrency per key and per project (429). A limiter store that fails is fail-open: logged, counted, shown in
 * /readyz; auth and budgets keep working.
 */
export class RequestGuard {
  private lastStoreError: { at: number; message: string } | null = null;

  constructor(private readonly deps: GuardDeps) {}

  problem(): string | null {
    const e = this.lastStoreError;
    if (e && Date.now() - e.at < 30_000) return `rate limits failing open: ${e.message}`;
    return this.deps.budgets.problem();
  }

  private checkAllowed(key: ApiKeyRecord, req: ChatReq, plan: RoutePlan): void {
    if (key.allow_containers.length > 0 || key.allow_models.length > 0) {
      const requested = [req.model, ...(req.models ?? [])].filter((m): m is string => typeof m === 'string');
      for (const slug of requested) {
        const parsed = parseSlug(slug);
        if (parsed?.provider === CONTAINER_PROVIDER) {
          const label = parsed.model.split(/[/:]/)[0] ?? '';
          if (key.allow_containers.length > 0 && !key.allow_containers.includes(label)) {
            throw new ApiError(403, 'forbidden_model', `This API key may not use container '${label}'`, {
              container: label,
              allowed_containers: key.allow_containers,
            });
          }
        }
      }
      if (key.allow_models.length > 0) {
        const patterns = key.allow_models.map(globToRegExp);
        // Models reached through an allowed container are allowed; models named directly must match.
        const direct = plan.container === null ? plan.attempts : [];
        for (const attempt of direct) {
          if (!patterns.some((p) => p.test(attempt.slug))) {
            throw new ApiError(403, 'forbidden_model', `This API key may not use model '${attempt.slug}'`, {
              model: attempt.slug,
              allowed_models: key.allow_models,
            });
          }
        }
      }
    }
  }

  async admit(
    key: ApiKeyRecord,
    project: ProjectRecord,
    req: ChatReq,
    plan: RoutePlan,
    receivedMs: number,
  ): Promise<Admission> {
    this.checkAllowed(key, req, plan);
    const defaults = this.deps.limits;
    const budget = {
      monthlyNanos:
        project.monthly_budget_nanos ??
        (defaults.project.monthly_budget_usd === null
          ? null
          : Math.round(defaults.project.monthly_budget_usd * 1e9)),
      totalNanos:
        project.total_budget_nanos ??
        (defaults.project.total_budget_usd === null
          ? null
          : Math.round(defaults.project.total_budget_usd * 1e9)),
    };
    const promptTokens = estimatePromptTokens(req);
    const hasBudget = budget.monthlyNanos !== null || budget.totalNanos !== null;
    if (hasBudget) await this.deps.budgets.prepare(project.id);
    // Synchronous from here to the reservation: parallel requests see each other's reservations.
    const estimateNanos = hasBudget
      ? (this.deps.estimateSpend(plan, promptTokens, maxOutputTokens(req)) ?? 0)
      : 0;
    const settleSpend = hasBudget
      ? this.deps.budgets.checkAndReserve(project, budget, estimateNanos, receivedMs)
      : null;

    const checks: LimitCheck[] = [];
    const add = (scope: LimitScope, id: string, name: LimitName, limit: number | null, cost: number) => {
      if (limit !== null) checks.push({ scope, id, name, limit, cost });
    };
    add('key', key.id, 'rpm', effective(key.rpm, defaults.key.rpm), 1);
    add('project', project.id, 'rpm', effective(project.rpm, defaults.project.rpm), 1);
    add('key', key.id, 'tpm', effective(key.tpm, defaults.key.tpm), promptTokens);
    add('project', project.id, 'tpm', effective(project.tpm, defaults.project.tpm), promptTokens);
    add('key', key.id, 'concurrency', effective(key.max_concurrent, defaults.key.max_concurrent), 1);
    add(
      'project',
      project.id,
      'concurrency',
      effective(project.max_concurrent, defaults.project.max_concurrent),
      1,
    );

    const window = Math.floor(receivedMs / WINDOW_MS);
    const resetS = Math.ceil(((window + 1) * WINDOW_MS) / 1000);
    let headers: Record<string, string> = {};
    let admitted = checks;
    if (checks.length > 0) {
      try {
        const result = await this.deps.store.admit(checks, window);
        if (!result.ok) {
          settleSpend?.(null);
          const { failed, used } = result;
          this.deps.metrics.refused.inc({ limit: failed.name, scope: failed.scope });
          const retryAfter =
            failed.name === 'concurrency' ? 1 : Math.max(1, resetS - Math.floor(Date.now() / 1000));
          const rpm = checks.find((c) => c.name === 'rpm');
          throw new ApiError(
            429,
            'rate_limit_exceeded',
            `Rate limit exceeded: ${failed.name} of the ${failed.scope} (${failed.limit}${failed.name === 'concurrency' ? ' concurrent requests' : ' per minute'})`,
            { limit: failed.name, scope: failed.scope, value: failed.limit, used },
            {
              'retry-after': String(retryAfter),
              ...(rpm
                ? {
                    'x-ratelimit-limit': String((failed.name === 'rpm' ? failed : rpm).limit),
                    'x-ratelimit-remaining':
                      failed.name === 'rpm' ? '0' : String(Math.max(0, rpm.limit - used)),
                    'x-ratelimit-reset': String(resetS),
                  }
                : {}),
            },
          );
        }
        // The tightest request limit after this request.
        let best: { limit: number; remaining: number } | null = null;
        checks.forEach((c, i) => {
          if (c.name !== 'rpm') return;
          const remaining = Math.max(0, c.limit - (result.used[i] ?? 0));
          if (!best || remaining < best.remaining) best = { limit: c.limit, remaining };
        });
        const tightest = best as { limit: number; remaining: number } | null;
        if (tightest) {
          headers = {
            'x-ratelimit-limit': String(tightest.limit),
            'x-ratelimit-remaining': String(tightest.remaining),
            'x-ratelimit-reset': String(resetS),
          };
        }
      } catch (err) {
        if (err instanceof ApiError) throw err;
        // Fail open: the limiter store is unreachable.
        admitted = [];
        this.deps.metrics.limiterErrors.inc();
        const message = err instanceof Error ? err.message : String(err);
        if (!this.lastStoreError || Date.now() - this.lastStoreError.at > 10_000) {
          this.deps.logger.warn({ err: message }, 'rate-limit store unavailable: failing open');
        }
        this.lastStoreError = { at: Date.now(), message };
      }
    }

    const tpm = admitted.filter((c) => c.name === 'tpm');
    const concurrency = admitted.filter((c) => c.name === 'concurrency');
    let released = false;
    let settled = false;
    const store = this.deps.store;
    const logger = this.deps.logger;
    return {
      headers,
      settle(totalTokens, spendNanos, interrupted = false) {
        if (settled) return;
        settled = true;
        settleSpend?.(spendNanos ?? (interrupted ? estimateNanos : null));
        const delta = totalTokens === null ? 0 : totalTokens - promptTokens;
        for (const c of tpm) {
          store.adjust(c, window, delta).catch((err: unknown) => logger.debug({ err }, 'tpm settle failed'));
        }
      },
      release() {
        if (released) return;
        released = true;
        if (concurrency.length > 0) {
          store
            .release(concurrency)
            .catch((err: unknown) => logger.debug({ err }, 'concurrency release failed'));
        }
      },
    };
  }
}
