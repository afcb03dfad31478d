import { z } from 'zod';

/**
 * A free-form JSON object (`{"type": "object", "additionalProperties": true}` in the spec, `dict[str, Any]` in
 * pydantic). Modelled as a record so a non-object reports pydantic's `dict_type`, not `model_attributes_type`.
 */
export const JsonObject = z.record(z.string(), z.unknown());
export type JsonObject = z.infer<typeof JsonObject>;
