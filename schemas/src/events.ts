import { readdirSync, readFileSync } from 'node:fs';
import avro from 'avsc';
import type { Schema, Type } from 'avsc';

/*
 * Kafka event encoding with Avro (avsc). Every message carries a `maniac-schema` header naming its writer
 * schema (`<full name>@<first 16 hex chars of the SHA-256 Parsing Canonical Form fingerprint>`). Decoders keep
 * every known version of the record (`avro/<base>.vN.avsc`) keyed by that id and resolve the writer schema
 * into the latest version, so old events stay readable after the schema evolves.
 */

/** Kafka header that names the writer schema of a message. */
export const SCHEMA_HEADER = 'maniac-schema';

/** Folder holding the `.avsc` files; `src/` and `dist/` are both one level under the package root. */
export const AVRO_DIR = new URL('../avro/', import.meta.url);

const NAMESPACE = 'ai.maniac.gateway.events';

// ---------------------------------------------------------------------------------------------------------------
// Event types (mirror avro/*.avsc; `["null", T]` unions are `T | null`, `long` is a JS number).

export interface Usage {
  prompt_tokens: number;
  completion_tokens: number;
  total_tokens: number;
  cached_tokens: number | null;
  cache_creation_tokens: number | null;
  reasoning_tokens: number | null;
}

/** One upstream call made while serving a completion (fallbacks produce several). */
export interface Attempt {
  provider: string;
  model: string;
  /** Upstream HTTP status, null when no response was received. */
  status: number | null;
  error_code: string | null;
  message: string | null;
  latency_ms: number;
}

export type CompletionEventSource = 'completion' | 'register';
export type CompletionEventStatus = 'success' | 'error' | 'client_cancelled';

/** One chat completion served by the gateway, or one registered example. Kafka key: `completion_id`. */
export interface CompletionEvent {
  /** UUID, stable across retries and replays; the idempotency key. */
  event_id: string;
  /** `completion` | `register` (a plain string in Avro). */
  source: string;
  completion_id: string;
  project_id: string;
  key_id: string | null;
  request_id: string | null;
  container: string | null;
  /** Canonical slug served, provider/model. */
  model: string | null;
  provider: string | null;
  upstream_model: string | null;
  upstream_id: string | null;
  stream: boolean;
  /** `success` | `error` | `client_cancelled` (a plain string in Avro). */
  status: string;
  /** Avro `int`: a 32-bit integer. */
  http_status: number;
  error_code: string | null;
  error_message: string | null;
  finish_reason: string | null;
  usage: Usage | null;
  /** Spend in nano-USD; null when the price is unknown. */
  spend_nanos: number | null;
  latency_ms: number;
  ttft_ms: number | null;
  attempts: Attempt[];
  tags: string[];
  metadata_json: string | null;
  trace_json: string | null;
  /** The ChatReq as received (after validation), JSON. */
  request_json: string;
  /** The ChatRes served (for streams: assembled), JSON. */
  response_json: string | null;
  /** Unix epoch milliseconds when the request was received. */
  created_ms: number;
}

type Optionalize<T, K extends keyof T> = Omit<T, K> & Partial<Pick<T, K>>;

/** A {@link Usage} where fields with an Avro default may be omitted. */
export type UsageInput = Optionalize<Usage, 'cached_tokens' | 'cache_creation_tokens' | 'reasoning_tokens'>;
/** An {@link Attempt} where fields with an Avro default may be omitted. */
export type AttemptInput = Optionalize<Attempt, 'status' | 'error_code' | 'message' | 'latency_ms'>;
type CompletionEventDefaulted =
  | 'key_id'
  | 'request_id'
  | 'container'
  | 'model'
  | 'provider'
  | 'upstream_model'
  | 'upstream_id'
  | 'stream'
  | 'error_code'
  | 'error_message'
  | 'finish_reason'
  | 'spend_nanos'
  | 'latency_ms'
  | 'ttft_ms'
  | 'tags'
  | 'metadata_json'
  | 'trace_json'
  | 'response_json';
/** A {@link CompletionEvent} where fields with an Avro default may be omitted (the encoder fills them in). */
export type CompletionEventInput = Optionalize<
  Omit<CompletionEvent, 'usage' | 'attempts'>,
  CompletionEventDefaulted
> & {
  usage?: UsageInput | null;
  attempts?: AttemptInput[];
};

/** Request and token limits; null = no limit at this scope. */
export interface LimitFields {
  rpm: number | null;
  tpm: number | null;
  max_concurrent: number | null;
}

export interface ProjectRecord extends LimitFields {
  id: string;
  name: string;
  created_ms: number;
  disabled: boolean;
  /** Spend budget per calendar month (UTC), nano-USD. */
  monthly_budget_nanos: number | null;
  /** Lifetime spend budget, nano-USD. */
  total_budget_nanos: number | null;
}

export interface ApiKeyRecord extends LimitFields {
  id: string;
  project_id: string;
  name: string | null;
  /** Hex SHA-256 of the full key; the key itself is never stored. */
  sha256: string;
  /** First characters of the key, for display. */
  prefix: string;
  created_ms: number;
  revoked_ms: number | null;
  /** Glob patterns over `provider/model` slugs; empty = any model. */
  allow_models: string[];
  /** Container labels; empty = any container. */
  allow_containers: string[];
}

/** A named task endpoint (`maniac:<label>`) of a project. */
export interface ContainerRecord {
  id: string;
  project_id: string;
  /** Unique per project. */
  label: string;
  /** Canonical `provider/model` slug. */
  model: string;
  fallback_models: string[];
  system_prompt: string | null;
  /** Default request parameters (a JSON object). */
  params_json: string;
  tags: string[];
  created_ms: number;
  updated_ms: number;
  deleted_ms: number | null;
}

/** The Avro `entity` union (Project | ApiKey | Container) as a discriminated union. */
export type ControlEntity =
  | ({ kind: 'project' } & ProjectRecord)
  | ({ kind: 'api_key' } & ApiKeyRecord)
  | ({ kind: 'container' } & ContainerRecord);
export type ControlEntityKind = ControlEntity['kind'];

/** Control-plane state (full upsert of one entity) on a compacted topic. Kafka key: {@link controlEventKey}. */
export interface ControlEvent {
  event_id: string;
  occurred_ms: number;
  entity: ControlEntity;
}

/** Kafka message key of a completion event. */
export function completionEventKey(event: Pick<CompletionEvent, 'completion_id'>): string {
  return event.completion_id;
}

/** Kafka message key of a control event: `<entity kind>:<id>`, so compaction keeps the latest state per entity. */
export function controlEventKey(event: Pick<ControlEvent, 'entity'>): string {
  return `${event.entity.kind}:${event.entity.id}`;
}

// ---------------------------------------------------------------------------------------------------------------
// Errors

export type EventDecodeReason =
  'missing_schema_header' | 'unknown_schema' | 'corrupt_payload' | 'invalid_payload';

/** A message that cannot be decoded; consumers route it to the dead-letter topic with {@link reason}. */
export class EventDecodeError extends Error {
  override name = 'EventDecodeError';
  readonly reason: EventDecodeReason;
  /** The `maniac-schema` header value, when there was one. */
  readonly schemaId: string | undefined;

  constructor(reason: EventDecodeReason, message: string, options?: { schemaId?: string; cause?: unknown }) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.reason = reason;
    this.schemaId = options?.schemaId;
  }
}

/** The writer schema named by the header is not a known version of this record. */
export class UnknownSchemaError extends EventDecodeError {
  override name = 'UnknownSchemaError';
  readonly knownSchemaIds: readonly string[];

  constructor(schemaId: string, knownSchemaIds: readonly string[]) {
    super('unknown_schema', `unknown writer schema ${JSON.stringify(schemaId)}`, { schemaId });
    this.knownSchemaIds = knownSchemaIds;
  }
}

/** A value that does not fit the Avro schema (wrong type, int out of range, unsafe long, …). */
export class EventEncodeError extends Error {
  override name = 'EventEncodeError';
  /** Dotted paths of the invalid fields, e.g. `usage.prompt_tokens`. */
  readonly paths: readonly string[];

  constructor(schemaName: string, paths: readonly string[], cause?: unknown) {
    super(
      `invalid ${schemaName}: ${paths.length > 0 ? paths.join(', ') : 'value does not match the schema'}`,
      cause === undefined ? undefined : { cause },
    );
    this.paths = paths;
  }
}

// ---------------------------------------------------------------------------------------------------------------
// Generic versioned codec

/** One version of an Avro record schema. */
export interface EventSchemaVersion {
  version: number;
  schema: Schema;
}

export interface EncodedEvent {
  value: Buffer;
  headers: Record<string, string>;
}

/** Kafka message headers as client libraries hand them over (kafkajs `IHeaders` is assignable). */
export type EventHeaders = Readonly<
  Record<string, string | Buffer | readonly (string | Buffer)[] | undefined>
>;

/** Optional mapping between the public TS shape and the avsc value shape (e.g. wrapped unions). */
export interface EventMapping<T, TInput> {
  toAvro(value: TInput): unknown;
  /** Receives the decoded value as plain objects; throws to reject it. */
  fromAvro(value: unknown): T;
}

/** The part of avsc's Tap (its read/write cursor over a buffer) a long codec touches. */
interface Tap {
  buf: Buffer;
  pos: number;
  readLong(): number;
  writeLong(n: number): void;
}

const TWO_52 = 2 ** 52;
const MAX_SAFE = BigInt(Number.MAX_SAFE_INTEGER);
const MIN_SAFE = BigInt(Number.MIN_SAFE_INTEGER);

/** A varint-zigzag long read with BigInt from `start` (the rare values whose zigzag form is 2^53 or more). */
function readLongExactly(tap: Tap, start: number): number {
  const buf = tap.buf;
  let pos = start;
  let z = 0n;
  let shift = 0n;
  let b: number;
  // To the varint's last byte, as avsc's own read goes: a longer varint (an invalid one) is then out of range,
  // never cut to its low bits.
  do {
    b = buf[pos++] ?? 0;
    z |= BigInt(b & 0x7f) << shift;
    shift += 7n;
  } while (b & 0x80);
  tap.pos = pos;
  const n = z & 1n ? -(z >> 1n) - 1n : z >> 1n;
  if (n > MAX_SAFE || n < MIN_SAFE) throw new Error(`long ${n} is outside the safe integer range`);
  return Number(n);
}

/** Writes a safe integer below -2^52 (whose zigzag form, odd and above 2^53, a float cannot hold) with BigInt. */
function writeLongExactly(tap: Tap, n: number): void {
  const buf = tap.buf;
  let z = -BigInt(n) * 2n - 1n;
  let pos = tap.pos;
  do {
    const low = Number(z & 0x7fn);
    z >>= 7n;
    // Out-of-range writes are dropped and `pos` still advances: avsc then retries in a larger buffer.
    buf[pos++] = z > 0n ? low | 0x80 : low;
  } while (z > 0n);
  tap.pos = pos;
}

/*
 * Avro `long` as a JS number, exact over the whole safe-integer range. avsc's built-in long reads and writes
 * varints with float arithmetic, which is exact while the zigzag form is below 2^53 — every value from -2^52 up
 * to the largest safe integer — but silently corrupts negative values below -2^52. Those (and any read whose
 * zigzag form reaches 2^53) take a BigInt path here; everything else costs what the built-in costs. (Through
 * BigInt and an 8-byte buffer for every long, as `LongType.__with` does it, a 1.2-KB event took ~1.7× as long
 * to encode and ~1.5× as long to decode.) Unsafe numbers are rejected on encode (the built-in check),
 * out-of-range longs on decode.
 */
class SafeLongType extends avro.types.LongType {
  _read(tap: Tap): number {
    const start = tap.pos;
    const n = tap.readLong();
    // |n| < 2^52 came from a zigzag form below 2^53: exact. Anything else is read again exactly.
    return n < TWO_52 && n > -TWO_52 ? n : readLongExactly(tap, start);
  }

  _write(tap: Tap, n: unknown): void {
    if (typeof n !== 'number' || !Number.isSafeInteger(n)) {
      throw new Error(`invalid "long": ${String(n)}`);
    }
    if (n >= -TWO_52) tap.writeLong(n);
    else writeLongExactly(tap, n);
  }
}

const SAFE_LONG = new SafeLongType();

/** Encoding scratch space, grown to the largest value seen up to {@link SCRATCH_MAX_BYTES}. */
let scratch = Buffer.allocUnsafe(64 * 1024);
const SCRATCH_MAX_BYTES = 1024 * 1024;

/**
 * `type.toBuffer(value)` written once. avsc's `toBuffer` writes into a 1-KiB buffer that never grows, and writes a
 * larger value (a completion event is ~1.2 KB) a second time into a new zero-filled buffer of its exact size.
 * Here it is written into a scratch buffer and copied out (small ones land in Node's buffer pool). A value larger
 * than the scratch may grow to is written into a buffer of its own exact size, as avsc does.
 */
function writeValue(type: Type, value: unknown): Buffer {
  let end = type.encode(value, scratch, 0);
  if (end < 0) {
    const needed = scratch.length - end;
    if (needed > SCRATCH_MAX_BYTES) {
      const exact = Buffer.allocUnsafe(needed);
      type.encode(value, exact, 0);
      return exact;
    }
    scratch = Buffer.allocUnsafe(Math.min(SCRATCH_MAX_BYTES, 2 ** Math.ceil(Math.log2(needed))));
    end = type.encode(value, scratch, 0);
  }
  const out = Buffer.allocUnsafe(end);
  scratch.copy(out, 0, 0, end);
  return out;
}

/** The `long` every event schema is parsed with (exported for its tests). */
export const safeLongType: Type = SAFE_LONG;

/** Parses a schema with {@link SAFE_LONG} (a fresh registry each time: avsc adds named types to it). */
function parseSchema(schema: Schema): Type {
  return avro.Type.forSchema(schema, { registry: { long: SAFE_LONG } });
}

interface KnownVersion {
  version: number;
  type: Type;
  resolver: ReturnType<Type['createResolver']> | undefined;
}

/** Identifier of a schema as carried in the `maniac-schema` header. */
export function schemaIdOf(type: Type): string {
  return `${type.name ?? '(anonymous)'}@${type.fingerprint('sha256').toString('hex').slice(0, 16)}`;
}

/**
 * Encodes with the latest schema version and decodes any known version into it. Values are validated on
 * encode; Avro defaults are filled in for omitted fields.
 */
export class EventCodec<T, TInput = T> {
  /** Full name of the record, e.g. `ai.maniac.gateway.events.CompletionEvent`. */
  readonly name: string;
  /** Header value written by {@link encode} (the latest version). */
  readonly schemaId: string;
  readonly latestVersion: number;
  private readonly latest: Type;
  private readonly known = new Map<string, KnownVersion>();
  private readonly mapping: EventMapping<T, TInput> | undefined;

  constructor(versions: readonly EventSchemaVersion[], mapping?: EventMapping<T, TInput>) {
    if (versions.length === 0) throw new Error('EventCodec needs at least one schema version');
    const sorted = [...versions].sort((a, b) => a.version - b.version);
    const types = sorted.map((v) => ({ version: v.version, type: parseSchema(v.schema) }));
    const latest = types[types.length - 1];
    if (latest === undefined || latest.type.name === undefined)
      throw new Error('event schemas must be named');
    this.latest = latest.type;
    this.latestVersion = latest.version;
    this.name = latest.type.name;
    this.schemaId = schemaIdOf(latest.type);
    this.mapping = mapping;
    for (const { version, type } of types) {
      if (type.name !== this.name) {
        throw new Error(`schema version ${version} is ${type.name ?? 'anonymous'}, expected ${this.name}`);
      }
      // Fails here (at startup) if an old version cannot be resolved into the latest one.
      const resolver = type === latest.type ? undefined : latest.type.createResolver(type);
      this.known.set(schemaIdOf(type), { version, type, resolver });
    }
  }

  /** Header values of every version this codec can decode. */
  get knownSchemaIds(): string[] {
    return [...this.known.keys()];
  }

  /** Which schema version wrote a message, from its headers (undefined when the id is unknown). */
  versionOf(headers: EventHeaders): number | undefined {
    const id = headerValue(headers, SCHEMA_HEADER);
    return id === undefined ? undefined : this.known.get(id)?.version;
  }

  encode(value: TInput): EncodedEvent {
    const avroValue: unknown = this.mapping ? this.mapping.toAvro(value) : value;
    let buffer: Buffer;
    try {
      // avsc's writers check every value's type as they go (and write a field's default where it is omitted), so a
      // complete, valid value — what the gateway builds — is written once, without a separate validation pass
      // (`isValid` was ~a quarter of the encode). Anything the writers refuse is cloned first, which fills omitted
      // fields with their defaults and throws, with the offending paths, for what is really invalid.
      buffer = writeValue(this.latest, avroValue);
    } catch {
      try {
        buffer = writeValue(this.latest, this.latest.clone(avroValue));
      } catch (err) {
        throw new EventEncodeError(this.name, invalidPaths(this.latest, avroValue), err);
      }
    }
    return { value: buffer, headers: { [SCHEMA_HEADER]: this.schemaId } };
  }

  /**
   * @param copy false: without a mapping, return avsc's decoded record itself instead of a plain copy — the same
   *   own enumerable fields (JSON.stringify gives the same text) with avsc's methods on its prototype. For readers
   *   that copy the fields out anyway (the writer's projection: the copy was ~10 % of its CPU, and garbage).
   */
  decode(value: Buffer, headers: EventHeaders, copy = true): T {
    const schemaId = headerValue(headers, SCHEMA_HEADER);
    if (schemaId === undefined) {
      throw new EventDecodeError('missing_schema_header', `message has no ${SCHEMA_HEADER} header`);
    }
    const writer = this.known.get(schemaId);
    if (writer === undefined) throw new UnknownSchemaError(schemaId, this.knownSchemaIds);
    let decoded: unknown;
    try {
      const record: unknown = this.latest.fromBuffer(value, writer.resolver);
      decoded = copy || this.mapping !== undefined ? toPlain(record) : record;
    } catch (err) {
      throw new EventDecodeError('corrupt_payload', `cannot decode ${schemaId}: ${errorMessage(err)}`, {
        schemaId,
        cause: err,
      });
    }
    if (this.mapping === undefined) return decoded as T;
    try {
      return this.mapping.fromAvro(decoded);
    } catch (err) {
      if (err instanceof EventDecodeError) throw err;
      throw new EventDecodeError('invalid_payload', `invalid ${schemaId} payload: ${errorMessage(err)}`, {
        schemaId,
        cause: err,
      });
    }
  }
}

function headerValue(headers: EventHeaders, name: string): string | undefined {
  let raw = headers[name];
  if (raw === undefined) {
    const key = Object.keys(headers).find((k) => k.toLowerCase() === name);
    raw = key === undefined ? undefined : headers[key];
  }
  if (Array.isArray(raw)) raw = raw[raw.length - 1];
  if (raw === undefined) return undefined;
  if (typeof raw === 'string') return raw;
  // kafkajs hands over Buffers: read in place (`Buffer.from` would copy every message's header first).
  const bytes = raw as Buffer | Uint8Array;
  return Buffer.isBuffer(bytes) ? bytes.toString('utf8') : Buffer.from(bytes).toString('utf8');
}

function invalidPaths(type: Type, value: unknown): string[] {
  const paths: string[] = [];
  try {
    type.isValid(value, {
      errorHook: (path, _val, t) =>
        paths.push(
          `${path.length > 0 ? path.join('.') : '(root)'} (${t.typeName.replace(/^abstract:/, '')})`,
        ),
    });
  } catch {
    // isValid itself may throw on very malformed input; the generic message is enough then.
  }
  return paths;
}

/** avsc decodes records as class instances; hand out plain data. */
function toPlain(value: unknown): unknown {
  if (value === null || typeof value !== 'object' || Buffer.isBuffer(value)) return value;
  if (Array.isArray(value)) return value.map(toPlain);
  // Own keys only (avsc's record methods live on the prototype); no [key, value] pair arrays (the writer's hot
  // path: this ran ~7 % of its CPU with Object.entries).
  const record = value as Record<string, unknown>;
  const out: Record<string, unknown> = {};
  const keys = Object.keys(record);
  for (let i = 0; i < keys.length; i++) {
    const key = keys[i] as string;
    const field = record[key];
    out[key] = field !== null && typeof field === 'object' ? toPlain(field) : field;
  }
  return out;
}

function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

// ---------------------------------------------------------------------------------------------------------------
// Schema files

/**
 * Every version of one event schema from `avro/<baseName>.vN.avsc`, oldest first.
 * @param dir defaults to the package's `avro/` folder
 */
export function loadEventSchemaVersions(baseName: string, dir: URL = AVRO_DIR): EventSchemaVersion[] {
  const pattern = new RegExp(`^${baseName.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}\\.v(\\d+)\\.avsc$`);
  const versions: EventSchemaVersion[] = [];
  for (const file of readdirSync(dir)) {
    const match = pattern.exec(file);
    if (match?.[1] === undefined) continue;
    const schema = JSON.parse(readFileSync(new URL(file, dir), 'utf8')) as Schema;
    versions.push({ version: Number(match[1]), schema });
  }
  if (versions.length === 0) throw new Error(`no ${baseName}.vN.avsc in ${dir.pathname}`);
  return versions.sort((a, b) => a.version - b.version);
}

// ---------------------------------------------------------------------------------------------------------------
// Completion events

let completionCodec: EventCodec<CompletionEvent, CompletionEventInput> | undefined;

/** The codec for `avro/completion-event.vN.avsc` (loaded on first use). */
export function completionEventCodec(): EventCodec<CompletionEvent, CompletionEventInput> {
  completionCodec ??= new EventCodec<CompletionEvent, CompletionEventInput>(
    loadEventSchemaVersions('completion-event'),
  );
  return completionCodec;
}

export function encodeCompletionEvent(event: CompletionEventInput): EncodedEvent {
  return completionEventCodec().encode(event);
}

/** @throws EventDecodeError (UnknownSchemaError for an unknown writer schema) */
export function decodeCompletionEvent(value: Buffer, headers: EventHeaders): CompletionEvent {
  return completionEventCodec().decode(value, headers);
}

/**
 * Like {@link decodeCompletionEvent}, but the value is avsc's record rather than a plain-object copy (same own
 * fields; methods on its prototype): for readers that copy the fields out, such as the writer's projection.
 * @throws EventDecodeError (UnknownSchemaError for an unknown writer schema)
 */
export function decodeCompletionEventRecord(value: Buffer, headers: EventHeaders): CompletionEvent {
  return completionEventCodec().decode(value, headers, false);
}

// ---------------------------------------------------------------------------------------------------------------
// Control events (the `entity` record|record union needs avsc's wrapped form: `{"<full name>": {...}}`)

const ENTITY_BRANCHES = {
  project: `${NAMESPACE}.Project`,
  api_key: `${NAMESPACE}.ApiKey`,
  container: `${NAMESPACE}.Container`,
} as const satisfies Record<ControlEntityKind, string>;

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function entityToAvro(entity: ControlEntity): Record<string, unknown> {
  const { kind, ...record } = entity;
  return { [ENTITY_BRANCHES[kind]]: record };
}

function entityFromAvro(wrapped: unknown): ControlEntity {
  if (!isRecord(wrapped)) throw new Error('entity is not a wrapped union value');
  const project = wrapped[ENTITY_BRANCHES.project];
  if (isRecord(project)) return { kind: 'project', ...(project as unknown as ProjectRecord) };
  const apiKey = wrapped[ENTITY_BRANCHES.api_key];
  if (isRecord(apiKey)) return { kind: 'api_key', ...(apiKey as unknown as ApiKeyRecord) };
  const container = wrapped[ENTITY_BRANCHES.container];
  if (isRecord(container)) return { kind: 'container', ...(container as unknown as ContainerRecord) };
  throw new Error(`unsupported entity branch ${Object.keys(wrapped).join(', ') || '(none)'}`);
}

const controlMapping: EventMapping<ControlEvent, ControlEvent> = {
  toAvro: (event) => ({
    event_id: event.event_id,
    occurred_ms: event.occurred_ms,
    entity: entityToAvro(event.entity),
  }),
  fromAvro: (value) => {
    if (!isRecord(value)) throw new Error('control event is not a record');
    return {
      event_id: value['event_id'] as string,
      occurred_ms: value['occurred_ms'] as number,
      entity: entityFromAvro(value['entity']),
    };
  },
};

let controlCodec: EventCodec<ControlEvent> | undefined;

/** The codec for `avro/control-event.vN.avsc` (loaded on first use). */
export function controlEventCodec(): EventCodec<ControlEvent> {
  controlCodec ??= new EventCodec(loadEventSchemaVersions('control-event'), controlMapping);
  return controlCodec;
}

export function encodeControlEvent(event: ControlEvent): EncodedEvent {
  return controlEventCodec().encode(event);
}

/** @throws EventDecodeError (UnknownSchemaError for an unknown writer schema) */
export function decodeControlEvent(value: Buffer, headers: EventHeaders): ControlEvent {
  return controlEventCodec().decode(value, headers);
}
