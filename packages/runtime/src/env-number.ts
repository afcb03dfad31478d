/**
 * An integer from an environment variable (a standalone service's tuning knob): unset or empty → `fallback`;
 * otherwise an integer within `range`, or an error naming the variable — a typo must not silently mean the default.
 */
export function integerEnv(
  raw: string | undefined,
  name: string,
  fallback: number,
  range: { min: number; max?: number; meaning: string },
): number {
  if (raw === undefined || raw.trim() === '') return fallback;
  const value = Number(raw);
  if (!Number.isSafeInteger(value) || value < range.min || (range.max !== undefined && value > range.max)) {
    throw new Error(`${name} must be ${range.meaning}, got '${raw}'`);
  }
  return value;
}

/** A positive integer from an environment variable (see {@link integerEnv}). */
export function positiveIntEnv(raw: string | undefined, name: string, fallback: number): number {
  return integerEnv(raw, name, fallback, { min: 1, meaning: 'a positive integer' });
}
