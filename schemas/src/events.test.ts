import { readFileSync } from 'node:fs';
import avro from 'avsc';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  AVRO_DIR,
  EventCodec,
  EventDecodeError,
  EventEncodeError,
  SCHEMA_HEADER,
  UnknownSchemaError,
  completionEventCodec,
  completionEventKey,
  controlEventCodec,
  controlEventKey,
  decodeCompletionEvent,
  decodeCompletionEventRecord,
  decodeControlEvent,
  encodeCompletionEvent,
  encodeControlEvent,
  loadEventSchemaVersions,
  safeLongType,
} from './events.js';
import type { Attempt, CompletionEvent, ControlEvent, EventSchemaVersion, Usage } from './events.js';

const baseEvent: CompletionEvent = {
  event_id: '0b4a3c1e-8f1d-4c1e-9a5b-2f0e6d7c8b9a',
  source: 'completion',
  completion_id: 'chatcmpl-abc',
  project_id: 'proj_1',
  key_id: 'key_1',
  request_id: 'req_1',
  container: 'support-bot',
  model: 'openai/gpt-4o',
  provider: 'openai',
  upstream_model: 'gpt-4o-2024-08-06',
  upstream_id: 'chatcmpl-upstream',
  stream: true,
  status: 'success',
  http_status: 200,
  error_code: null,
  error_message: null,
  finish_reason: 'stop',
  usage: {
    prompt_tokens: 12,
    completion_tokens: 34,
    total_tokens: 46,
    cached_tokens: 0,
    cache_creation_tokens: null,
    reasoning_tokens: 8,
  },
  spend_nanos: 123_456_789,
  latency_ms: 812,
  ttft_ms: 95,
  attempts: [
    {
      provider: 'anthropic',
      model: 'claude',
      status: 529,
      error_code: 'overloaded',
      message: 'busy',
      latency_ms: 40,
    },
    { provider: 'openai', model: 'gpt-4o', status: 200, error_code: null, message: null, latency_ms: 760 },
  ],
  tags: ['a', 'b'],
  metadata_json: '{"team":"x"}',
  trace_json: '{"id":"t"}',
  request_json: '{"messages":[{"role":"user","content":"hi"}]}',
  response_json: '{"id":"chatcmpl-abc"}',
  created_ms: 1_727_346_168_123,
};

const completionV1 = JSON.parse(readFileSync(new URL('completion-event.v1.avsc', AVRO_DIR), 'utf8')) as {
  fields: unknown[];
} & Record<string, unknown>;

/** Test-only v2: adds an optional field with a default, and a doc change. */
const completionV2: EventSchemaVersion = {
  version: 2,
  schema: {
    ...completionV1,
    fields: [
      ...completionV1.fields,
      { name: 'region', type: ['null', 'string'], default: null, doc: 'Serving region (test-only v2).' },
    ],
  } as EventSchemaVersion['schema'],
};

type CompletionEventV2 = CompletionEvent & { region: string | null };

describe('completion events', () => {
  it('round-trips and names the writer schema in a header', () => {
    const encoded = encodeCompletionEvent(baseEvent);
    expect(Buffer.isBuffer(encoded.value)).toBe(true);
    expect(encoded.headers[SCHEMA_HEADER]).toMatch(
      /^ai\.maniac\.gateway\.events\.CompletionEvent@[0-9a-f]{16}$/,
    );
    expect(encoded.headers[SCHEMA_HEADER]).toBe(completionEventCodec().schemaId);
    const decoded = decodeCompletionEvent(encoded.value, encoded.headers);
    expect(decoded).toStrictEqual(baseEvent);
  });

  it('decodes into plain objects', () => {
    const encoded = encodeCompletionEvent(baseEvent);
    const decoded = decodeCompletionEvent(encoded.value, encoded.headers);
    expect(Object.getPrototypeOf(decoded)).toBe(Object.prototype);
    expect(Object.getPrototypeOf(decoded.usage)).toBe(Object.prototype);
    expect(Object.getPrototypeOf(decoded.attempts[0])).toBe(Object.prototype);
    expect(JSON.parse(JSON.stringify(decoded))).toEqual(baseEvent);
  });

  it('decodes without the copy for projections: the same fields and the same JSON', () => {
    const encoded = encodeCompletionEvent(baseEvent);
    const record = decodeCompletionEventRecord(encoded.value, encoded.headers);
    const plain = decodeCompletionEvent(encoded.value, encoded.headers);
    expect(Object.getPrototypeOf(record)).not.toBe(Object.prototype);
    expect(Object.keys(record)).toEqual(Object.keys(plain));
    expect(JSON.stringify(record)).toBe(JSON.stringify(plain));
    expect(JSON.stringify(record.attempts)).toBe(JSON.stringify(baseEvent.attempts));
    expect(record).toEqual(baseEvent);
  });

  it('fills Avro defaults for omitted fields', () => {
    const encoded = encodeCompletionEvent({
      event_id: 'e',
      source: 'register',
      completion_id: 'c',
      project_id: 'p',
      status: 'success',
      http_status: 200,
      request_json: '{}',
      created_ms: 1,
      usage: { prompt_tokens: 1, completion_tokens: 2, total_tokens: 3 },
      attempts: [{ provider: 'openai', model: 'm' }],
    });
    expect(decodeCompletionEvent(encoded.value, encoded.headers)).toStrictEqual({
      event_id: 'e',
      source: 'register',
      completion_id: 'c',
      project_id: 'p',
      key_id: null,
      request_id: null,
      container: null,
      model: null,
      provider: null,
      upstream_model: null,
      upstream_id: null,
      stream: false,
      status: 'success',
      http_status: 200,
      error_code: null,
      error_message: null,
      finish_reason: null,
      usage: {
        prompt_tokens: 1,
        completion_tokens: 2,
        total_tokens: 3,
        cached_tokens: null,
        cache_creation_tokens: null,
        reasoning_tokens: null,
      },
      spend_nanos: null,
      latency_ms: 0,
      ttft_ms: null,
      attempts: [
        { provider: 'openai', model: 'm', status: null, error_code: null, message: null, latency_ms: 0 },
      ],
      tags: [],
      metadata_json: null,
      trace_json: null,
      request_json: '{}',
      response_json: null,
      created_ms: 1,
    });
  });

  it('round-trips unicode and large bodies', () => {
    const big = JSON.stringify({ content: 'x'.repeat(4 * 1024 * 1024), emoji: '😀👩🏽‍💻' });
    const event: CompletionEvent = {
      ...baseEvent,
      container: 'конт-容器-🚀',
      tags: ['日本語', 'emoji 🎉', 'עברית', ''],
      error_message: 'Zeichen: äöü ß — “quotes” \u0000 nul',
      request_json: big,
      response_json: JSON.stringify({ text: '🧪'.repeat(100_000) }),
    };
    const encoded = encodeCompletionEvent(event);
    expect(encoded.value.length).toBeGreaterThan(4 * 1024 * 1024);
    expect(decodeCompletionEvent(encoded.value, encoded.headers)).toStrictEqual(event);
  });

  it('accepts kafkajs-style headers (Buffer values, other casing)', () => {
    const encoded = encodeCompletionEvent(baseEvent);
    const id = encoded.headers[SCHEMA_HEADER] ?? '';
    expect(decodeCompletionEvent(encoded.value, { [SCHEMA_HEADER]: Buffer.from(id) })).toStrictEqual(
      baseEvent,
    );
    expect(decodeCompletionEvent(encoded.value, { 'Maniac-Schema': [Buffer.from(id)] })).toStrictEqual(
      baseEvent,
    );
  });

  it('rejects invalid values on encode with the offending paths', () => {
    const bad = {
      ...baseEvent,
      http_status: 2 ** 40,
      usage: { ...(baseEvent.usage as Usage), prompt_tokens: 1.5 },
    };
    expect(() => encodeCompletionEvent(bad)).toThrow(EventEncodeError);
    try {
      encodeCompletionEvent(bad);
    } catch (err) {
      expect(err).toBeInstanceOf(EventEncodeError);
      expect((err as EventEncodeError).paths).toEqual(['http_status (int)', 'usage.prompt_tokens (long)']);
    }
    expect(() => encodeCompletionEvent({ ...baseEvent, created_ms: Number.MAX_SAFE_INTEGER + 2 })).toThrow(
      EventEncodeError,
    );
    expect(() => encodeCompletionEvent({ ...baseEvent, event_id: undefined as unknown as string })).toThrow(
      EventEncodeError,
    );
  });

  it('the Kafka key is the completion id', () => {
    expect(completionEventKey(baseEvent)).toBe('chatcmpl-abc');
  });
});

describe('decode failures are typed', () => {
  const encoded = encodeCompletionEvent(baseEvent);

  it('missing header', () => {
    const err = catchError(() => decodeCompletionEvent(encoded.value, {}));
    expect(err).toBeInstanceOf(EventDecodeError);
    expect((err as EventDecodeError).reason).toBe('missing_schema_header');
  });

  it('unknown fingerprint or another record', () => {
    for (const header of [
      'ai.maniac.gateway.events.CompletionEvent@0000000000000000',
      controlEventCodec().schemaId,
      'garbage',
    ]) {
      const err = catchError(() => decodeCompletionEvent(encoded.value, { [SCHEMA_HEADER]: header }));
      expect(err).toBeInstanceOf(UnknownSchemaError);
      expect(err).toBeInstanceOf(EventDecodeError);
      expect((err as UnknownSchemaError).reason).toBe('unknown_schema');
      expect((err as UnknownSchemaError).schemaId).toBe(header);
      expect((err as UnknownSchemaError).knownSchemaIds).toEqual([completionEventCodec().schemaId]);
    }
  });

  it('corrupt bytes: truncated, trailing data, garbage, empty', () => {
    const corrupt = [
      encoded.value.subarray(0, encoded.value.length - 5),
      Buffer.concat([encoded.value, Buffer.from([1, 2, 3])]),
      Buffer.from('definitely not avro, just some text'),
      Buffer.alloc(64, 0xff),
      Buffer.alloc(0),
    ];
    for (const value of corrupt) {
      const err = catchError(() => decodeCompletionEvent(value, encoded.headers));
      expect(err).toBeInstanceOf(EventDecodeError);
      expect(err).not.toBeInstanceOf(UnknownSchemaError);
      expect((err as EventDecodeError).reason).toBe('corrupt_payload');
      expect((err as EventDecodeError).schemaId).toBe(encoded.headers[SCHEMA_HEADER]);
      expect((err as EventDecodeError).cause).toBeInstanceOf(Error);
    }
  });
});

describe('schema evolution', () => {
  const v1 = loadEventSchemaVersions('completion-event');
  const codecV1 = new EventCodec<CompletionEvent>(v1);
  const codecV2 = new EventCodec<CompletionEventV2>([...v1, completionV2]);

  it('finds the versioned files in avro/', () => {
    expect(v1.map((v) => v.version)).toEqual([1]);
    expect(loadEventSchemaVersions('control-event').map((v) => v.version)).toEqual([1, 2]);
  });

  it('control events written with v1 (before limits and containers) decode under v2 with defaults', () => {
    const [controlV1] = loadEventSchemaVersions('control-event');
    const writerV1 = new EventCodec<Record<string, unknown>>([controlV1 as EventSchemaVersion]);
    const encoded = writerV1.encode({
      event_id: 'old-1',
      occurred_ms: 1,
      entity: {
        'ai.maniac.gateway.events.ApiKey': {
          id: 'key_old',
          project_id: 'proj_old',
          name: null,
          sha256: 'b'.repeat(64),
          prefix: 'mgw_old',
          created_ms: 1,
          revoked_ms: null,
        },
      },
    });
    expect(decodeControlEvent(encoded.value, encoded.headers).entity).toStrictEqual({
      kind: 'api_key',
      id: 'key_old',
      project_id: 'proj_old',
      name: null,
      sha256: 'b'.repeat(64),
      prefix: 'mgw_old',
      created_ms: 1,
      revoked_ms: null,
      rpm: null,
      tpm: null,
      max_concurrent: null,
      allow_models: [],
      allow_containers: [],
    });
  });

  it('a v2 schema gets a different id; the registry knows both versions', () => {
    expect(codecV2.schemaId).not.toBe(codecV1.schemaId);
    expect(codecV2.name).toBe(codecV1.name);
    expect(codecV2.latestVersion).toBe(2);
    expect(codecV2.knownSchemaIds.sort()).toEqual([codecV1.schemaId, codecV2.schemaId].sort());
  });

  it('an event written with v1 decodes under v2 with the new field defaulted', () => {
    const written = codecV1.encode(baseEvent);
    expect(codecV2.versionOf(written.headers)).toBe(1);
    expect(codecV2.decode(written.value, written.headers)).toStrictEqual({ ...baseEvent, region: null });
  });

  it('the v2 registry decodes v2 events too; v1 readers reject them as unknown', () => {
    const written = codecV2.encode({ ...baseEvent, region: 'eu-west-1' });
    expect(written.headers[SCHEMA_HEADER]).toBe(codecV2.schemaId);
    expect(codecV2.decode(written.value, written.headers)).toStrictEqual({
      ...baseEvent,
      region: 'eu-west-1',
    });
    expect(() => codecV1.decode(written.value, written.headers)).toThrow(UnknownSchemaError);
  });

  it('refuses to build a registry whose old versions cannot be resolved into the latest', () => {
    const incompatible: EventSchemaVersion = {
      version: 3,
      schema: {
        ...completionV1,
        fields: [...completionV1.fields, { name: 'required_without_default', type: 'string' }],
      } as EventSchemaVersion['schema'],
    };
    expect(() => new EventCodec([...v1, incompatible])).toThrow();
  });
});

describe('control events', () => {
  const project: ControlEvent = {
    event_id: 'ev-1',
    occurred_ms: 1_700_000_000_000,
    entity: {
      kind: 'project',
      id: 'proj_1',
      name: 'Acme 🚀',
      created_ms: 1_600_000_000_000,
      disabled: false,
      rpm: 600,
      tpm: null,
      max_concurrent: null,
      monthly_budget_nanos: 50_000_000_000,
      total_budget_nanos: null,
    },
  };
  const apiKey: ControlEvent = {
    event_id: 'ev-2',
    occurred_ms: 1_700_000_000_001,
    entity: {
      kind: 'api_key',
      id: 'key_1',
      project_id: 'proj_1',
      name: null,
      sha256: 'a'.repeat(64),
      prefix: 'mk_live_ab',
      created_ms: 1_600_000_000_000,
      revoked_ms: 1_700_000_000_000,
      rpm: null,
      tpm: 100_000,
      max_concurrent: 4,
      allow_models: ['openai/*'],
      allow_containers: [],
    },
  };
  const container: ControlEvent = {
    event_id: 'ev-3',
    occurred_ms: 1_700_000_000_002,
    entity: {
      kind: 'container',
      id: 'ctr_1',
      project_id: 'proj_1',
      label: 'support-bot',
      model: 'openai/gpt-4o-mini',
      fallback_models: ['groq/llama-3.1-8b-instant'],
      system_prompt: 'Be brief.',
      params_json: '{"temperature":0.2}',
      tags: ['prod'],
      created_ms: 1_600_000_000_000,
      updated_ms: 1_600_000_000_500,
      deleted_ms: null,
    },
  };

  it('round-trips every entity kind as a discriminated union', () => {
    for (const event of [project, apiKey, container]) {
      const encoded = encodeControlEvent(event);
      expect(encoded.headers[SCHEMA_HEADER]).toMatch(
        /^ai\.maniac\.gateway\.events\.ControlEvent@[0-9a-f]{16}$/,
      );
      expect(decodeControlEvent(encoded.value, encoded.headers)).toStrictEqual(event);
    }
  });

  it('keys are <entity>:<id>', () => {
    expect(controlEventKey(project)).toBe('project:proj_1');
    expect(controlEventKey(apiKey)).toBe('api_key:key_1');
    expect(controlEventKey(container)).toBe('container:ctr_1');
  });

  it('typed errors for unknown schema and corrupt payloads', () => {
    const encoded = encodeControlEvent(apiKey);
    expect(() =>
      decodeControlEvent(encoded.value, { [SCHEMA_HEADER]: completionEventCodec().schemaId }),
    ).toThrow(UnknownSchemaError);
    const err = catchError(() => decodeControlEvent(encoded.value.subarray(0, 10), encoded.headers));
    expect((err as EventDecodeError).reason).toBe('corrupt_payload');
  });

  it('rejects invalid entities on encode', () => {
    const bad = {
      ...project,
      entity: { ...project.entity, created_ms: 'yesterday' },
    } as unknown as ControlEvent;
    expect(() => encodeControlEvent(bad)).toThrow(EventEncodeError);
  });
});

describe('property: completion events round-trip', () => {
  const text = fc.string({ unit: 'grapheme', maxLength: 40 });
  const long = fc.maxSafeInteger();
  const nullable = <T>(arb: fc.Arbitrary<T>): fc.Arbitrary<T | null> => fc.option(arb, { nil: null });
  const plain = { noNullPrototype: true } as const;
  const usage: fc.Arbitrary<Usage> = fc.record(
    {
      prompt_tokens: long,
      completion_tokens: long,
      total_tokens: long,
      cached_tokens: nullable(long),
      cache_creation_tokens: nullable(long),
      reasoning_tokens: nullable(long),
    },
    plain,
  );
  const attempt: fc.Arbitrary<Attempt> = fc.record(
    {
      provider: text,
      model: text,
      status: nullable(fc.integer({ min: -(2 ** 31), max: 2 ** 31 - 1 })),
      error_code: nullable(text),
      message: nullable(text),
      latency_ms: long,
    },
    plain,
  );
  const event: fc.Arbitrary<CompletionEvent> = fc.record(
    {
      event_id: fc.uuid(),
      source: fc.constantFrom('completion', 'register'),
      completion_id: text,
      project_id: text,
      key_id: nullable(text),
      request_id: nullable(text),
      container: nullable(text),
      model: nullable(text),
      provider: nullable(text),
      upstream_model: nullable(text),
      upstream_id: nullable(text),
      stream: fc.boolean(),
      status: fc.constantFrom('success', 'error', 'client_cancelled'),
      http_status: fc.integer({ min: -(2 ** 31), max: 2 ** 31 - 1 }),
      error_code: nullable(text),
      error_message: nullable(fc.string({ unit: 'binary', maxLength: 200 })),
      finish_reason: nullable(text),
      usage: nullable(usage),
      spend_nanos: nullable(long),
      latency_ms: long,
      ttft_ms: nullable(long),
      attempts: fc.array(attempt, { maxLength: 4 }),
      tags: fc.array(text, { maxLength: 5 }),
      metadata_json: nullable(fc.json()),
      trace_json: nullable(fc.json()),
      request_json: fc.json(),
      response_json: nullable(fc.json()),
      created_ms: long,
    },
    plain,
  );

  it('decode(encode(e)) equals e', () => {
    fc.assert(
      fc.property(event, (e) => {
        const encoded = encodeCompletionEvent(e);
        expect(decodeCompletionEvent(encoded.value, encoded.headers)).toStrictEqual(e);
      }),
      { numRuns: 300 },
    );
  });
});

describe('long: exact over the safe integers, in the Avro wire format', () => {
  // Avro's long: zigzag, then a base-128 varint, low group first — computed with BigInt, independently.
  const avroLong = (n: bigint): Buffer => {
    let z = n >= 0n ? n * 2n : -n * 2n - 1n;
    const bytes: number[] = [];
    do {
      const low = Number(z & 0x7fn);
      z >>= 7n;
      bytes.push(z > 0n ? low | 0x80 : low);
    } while (z > 0n);
    return Buffer.from(bytes);
  };
  const record = avro.Type.forSchema(
    { type: 'record', name: 'OneLong', fields: [{ name: 'n', type: 'long' }] },
    { registry: { long: safeLongType } },
  );
  const edges = [
    0,
    1,
    -1,
    63,
    -64,
    64,
    2 ** 31 - 1,
    -(2 ** 31),
    2 ** 32,
    -(2 ** 32),
    1_767_225_600_123,
    2 ** 52 - 1,
    2 ** 52,
    2 ** 52 + 1,
    -(2 ** 52) + 1,
    -(2 ** 52),
    -(2 ** 52) - 1,
    -(2 ** 52) - 2,
    2 ** 53 - 2,
    Number.MAX_SAFE_INTEGER,
    Number.MIN_SAFE_INTEGER,
    Number.MIN_SAFE_INTEGER + 1,
  ];

  it('writes and reads every edge exactly (avsc alone corrupts those below -2^52)', () => {
    for (const n of edges) {
      const bytes = record.toBuffer({ n });
      expect(bytes.equals(avroLong(BigInt(n))), `bytes of ${n}`).toBe(true);
      expect((record.fromBuffer(bytes) as { n: number }).n).toBe(n);
    }
    // What the fast path alone would write for -2^52 - 1: the zigzag form 2^53 + 1 does not fit a double.
    const builtIn = avro.Type.forSchema({
      type: 'record',
      name: 'Plain',
      fields: [{ name: 'n', type: 'long' }],
    });
    expect(builtIn.toBuffer({ n: -(2 ** 52) - 1 }).equals(avroLong(BigInt(-(2 ** 52) - 1)))).toBe(false);
  });

  it('any safe integer round-trips to the same bytes as the reference', () => {
    fc.assert(
      fc.property(fc.maxSafeInteger(), (n) => {
        const bytes = record.toBuffer({ n });
        expect(bytes.equals(avroLong(BigInt(n)))).toBe(true);
        expect((record.fromBuffer(bytes) as { n: number }).n).toBe(n);
      }),
      { numRuns: 2000 },
    );
  });

  it('refuses unsafe numbers on write and longs beyond them on read', () => {
    for (const n of [2 ** 53, -(2 ** 53), 1.5, Number.NaN]) {
      expect(() => record.toBuffer({ n }), String(n)).toThrow();
    }
    // 2^70: a varint longer than a long's ten bytes, whose low 70 bits are all zero.
    for (const n of [2n ** 53n, -(2n ** 53n) - 1n, 2n ** 62n, -(2n ** 63n), 2n ** 70n]) {
      expect(() => record.fromBuffer(avroLong(n)), String(n)).toThrow(/outside the safe integer range/);
    }
  });
});

function catchError(fn: () => unknown): unknown {
  try {
    fn();
  } catch (err) {
    return err;
  }
  throw new Error('expected an error');
}
