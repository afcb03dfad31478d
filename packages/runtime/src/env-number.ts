/**
 * A positive integer from an environment variable (a standalone service's tuning knob): unset or empty → `fallback`;
 * otherwise a positive integer, or an error naming the variable — a typo must not silently mean the default.
 */
export function positiveIntEnv(raw: string | undefined, name: string, fallback: number): number {
  if (raw === undefined || raw.trim() === '') return fallback;
  const value = Number(raw);
  if (!Number.isSafeInteger(value) || value <= 0) {
    throw new Error(`${name} must be a positive integer, got '${raw}'`);
  }
  return value;
}
