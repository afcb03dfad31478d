import { describe, expect, it } from 'vitest';
import { writerOptionsFromEnv } from './writer.js';

describe('writerOptionsFromEnv', () => {
  it('takes the knobs that are set, leaves the rest to the defaults, and refuses malformed ones', () => {
    expect(writerOptionsFromEnv({})).toEqual({});
    expect(writerOptionsFromEnv({ WRITER_FLUSH_INTERVAL_MS: '200' })).toEqual({ flushIntervalMs: 200 });
    expect(writerOptionsFromEnv({ WRITER_FLUSH_INTERVAL_MS: '', WRITER_SESSION_TIMEOUT_MS: '6000' })).toEqual(
      { sessionTimeoutMs: 6000 },
    );
    expect(writerOptionsFromEnv({ WRITER_FETCH_MIN_BYTES: '1' })).toEqual({ fetchMinBytes: 1 });
    expect(writerOptionsFromEnv({ WRITER_FETCH_MAX_WAIT_MS: '250' })).toEqual({ fetchMaxWaitMs: 250 });
    expect(() => writerOptionsFromEnv({ WRITER_FETCH_MAX_WAIT_MS: '-1' })).toThrow(
      /WRITER_FETCH_MAX_WAIT_MS/,
    );
    expect(() => writerOptionsFromEnv({ WRITER_FETCH_MIN_BYTES: '64k' })).toThrow(
      /WRITER_FETCH_MIN_BYTES must be a positive integer, got '64k'/,
    );
    expect(() => writerOptionsFromEnv({ WRITER_FLUSH_INTERVAL_MS: '0.5s' })).toThrow(
      /WRITER_FLUSH_INTERVAL_MS must be a positive integer, got '0.5s'/,
    );
  });
});
