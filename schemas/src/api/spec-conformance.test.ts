import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import type { z } from 'zod';
import * as api from './index.js';

/*
 * Checks every component schema of the OpenAPI contract (schemas/spec/openapi.json, a copy of the shared spec)
 * against its zod schema: property names, required keys, nullability, enum/const values and extra-key policy.
 */

interface JsonSchema {
  type?: string;
  const?: unknown;
  enum?: unknown[];
  nullable?: boolean;
  anyOf?: JsonSchema[];
  properties?: Record<string, JsonSchema>;
  required?: string[];
  additionalProperties?: boolean | JsonSchema;
  $ref?: string;
}

const spec = JSON.parse(readFileSync(new URL('../../spec/openapi.json', import.meta.url), 'utf8')) as {
  components: { schemas: Record<string, JsonSchema> };
};

type AnyObject = z.ZodObject<Record<string, z.ZodType>, z.core.$ZodObjectConfig>;

/** spec component → [zod schema, expected extra-key policy, keys we add on purpose]. */
const COMPONENTS: Record<string, [AnyObject, 'strict' | 'loose' | 'strip', readonly string[]]> = {
  ChatListRes: [api.ChatListRes, 'strict', []],
  'ChatResRelaxed-Output': [api.ChatResRelaxedOutput, 'strip', []],
  'ChatResRelaxed-Input': [api.ChatResRelaxedInput, 'loose', []],
  RegisterOutputChoice: [api.RegisterOutputChoice, 'loose', []],
  RegisterOutputMessage: [api.RegisterOutputMessage, 'loose', []],
  ChatResponseUsage: [api.ChatResponseUsage, 'loose', []],
  TraceContext: [api.TraceContext, 'strict', []],
  ErrorResponse: [api.ErrorResponse, 'strict', []],
  ManiacError: [api.ManiacError, 'strict', []],
  HTTPValidationError: [api.HTTPValidationError, 'strip', []],
  ValidationError: [api.ValidationError, 'strip', ['input', 'ctx']],
  ChatReq: [api.ChatReq, 'strict', [...api.OPENAI_EXTRA_CHAT_REQ_KEYS, ...api.MANIAC_COMPAT_CHAT_REQ_KEYS]],
  Message: [api.Message, 'strict', ['refusal', 'audio', 'function_call', 'reasoning', 'reasoning_content']],
  TextContentPart: [api.TextContentPart, 'loose', []],
  ImageContentPart: [api.ImageContentPart, 'loose', []],
  ToolCall: [api.ToolCall, 'loose', []],
  FunctionCall: [api.FunctionCall, 'loose', []],
  ReasoningConfig: [api.ReasoningConfig, 'loose', []],
  ResponseFormatText: [api.ResponseFormatText, 'loose', []],
  ResponseFormatJsonSchema: [api.ResponseFormatJsonSchema, 'loose', []],
  JsonSchemaConfig: [api.JsonSchemaConfig, 'loose', []],
  ResponseFormatJsonObject: [api.ResponseFormatJsonObject, 'loose', []],
  StreamOptions: [api.StreamOptions, 'loose', []],
  ToolChoiceFunction: [api.ToolChoiceFunction, 'loose', []],
  ToolChoiceFunctionName: [api.ToolChoiceFunctionName, 'loose', []],
  ToolDefinition: [api.ToolDefinition, 'loose', []],
  FunctionDefinition: [api.FunctionDefinition, 'loose', []],
  ChatRes: [api.ChatRes, 'strict', []],
  'ChatResponseChoice-Output': [api.ChatResponseChoice, 'strict', []],
  'ChatResponseMessage-Output': [api.ChatResponseMessage, 'loose', []],
  RegisterReq: [api.RegisterReq, 'strict', []],
  Item: [api.Item, 'strict', []],
  RegisterRes: [api.RegisterRes, 'strict', []],
};

function extraPolicy(schema: AnyObject): 'strict' | 'loose' | 'strip' {
  const catchall = schema.def.catchall?._zod.def.type;
  return catchall === 'never' ? 'strict' : catchall === 'unknown' ? 'loose' : 'strip';
}

function acceptsNull(prop: JsonSchema): boolean {
  if (prop.nullable === true || prop.type === 'null') return true;
  if (prop.anyOf) return prop.anyOf.some((b) => acceptsNull(b) || Object.keys(b).length === 0);
  return Object.keys(prop).every((k) => k === 'title' || k === 'description');
}

function enumValues(prop: JsonSchema): unknown[] {
  const own = [...(prop.enum ?? []), ...(prop.const !== undefined ? [prop.const] : [])];
  return [...own, ...(prop.anyOf ?? []).flatMap(enumValues)];
}

describe('zod schemas match the OpenAPI components', () => {
  it('covers every component schema', () => {
    expect(Object.keys(COMPONENTS).sort()).toEqual(Object.keys(spec.components.schemas).sort());
  });

  for (const [name, [schema, policy, extras]] of Object.entries(COMPONENTS)) {
    describe(name, () => {
      const component = spec.components.schemas[name];
      if (component === undefined) throw new Error(`spec has no ${name}`);
      const properties = component.properties ?? {};

      it('has the same properties (plus documented extras)', () => {
        expect(Object.keys(schema.shape).sort()).toEqual([...Object.keys(properties), ...extras].sort());
      });

      it('has the same extra-key policy', () => {
        expect(extraPolicy(schema)).toBe(policy);
        if (component.additionalProperties === false) expect(policy).toBe('strict');
        if (component.additionalProperties === true) expect(policy).toBe('loose');
      });

      it('requires exactly the required keys', () => {
        const optional = (s: z.ZodType | undefined): boolean =>
          s?._zod.optin === 'optional' || s?._zod.def.type === 'default';
        const required = Object.keys(schema.shape).filter((k) => !optional(schema.shape[k]));
        expect(required.sort()).toEqual([...(component.required ?? [])].sort());
      });

      it('accepts null exactly where the spec does', () => {
        for (const [key, prop] of Object.entries(properties)) {
          const accepted = schema.shape[key]?.safeParse(null).success;
          expect({ key, accepted }).toEqual({ key, accepted: acceptsNull(prop) });
        }
      });

      it('accepts every enum/const value', () => {
        for (const [key, prop] of Object.entries(properties)) {
          for (const value of enumValues(prop)) {
            expect({ key, value, ok: schema.shape[key]?.safeParse(value).success }).toEqual({
              key,
              value,
              ok: true,
            });
          }
        }
      });
    });
  }
});
