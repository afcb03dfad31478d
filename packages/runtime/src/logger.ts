import { pino, type Logger, type LoggerOptions } from 'pino';

export type { Logger } from 'pino';

/**
 * Paths that must never reach a log line: credentials, and (unless debug bodies are on) prompts and completions.
 * pino's redaction is applied at serialisation time, so a handler that accidentally logs a request still
 * cannot leak a key.
 */
const REDACT_PATHS = [
  'req.headers.authorization',
  'req.headers["x-api-key"]',
  'req.headers["api-key"]',
  'headers.authorization',
  'authorization',
  'apiKey',
  'api_key',
  '*.apiKey',
  '*.api_key',
  'key',
  'body.messages',
  '*.messages',
];

export interface LoggerConfig {
  level?: string;
  /** Pretty/human output is not bundled; JSON lines always. */
  name: string;
  destination?: NodeJS.WritableStream;
  /**
   * Without a destination: write stdout through a 4 KiB buffer, flushed at least this often, instead of one
   * synchronous write per line (logging at info, one access line per request, cost ~10 % of ingest-api's CPU per
   * request; the write is part of that, the serialisation the rest). One such stream per process. Flushed
   * synchronously on exit, including after a fatal error; a SIGKILL can lose the last interval's lines.
   */
  bufferMs?: number;
}

export function createLogger(config: LoggerConfig): Logger {
  const options: LoggerOptions = {
    name: config.name,
    level: config.level ?? process.env.LOG_LEVEL ?? 'info',
    redact: { paths: REDACT_PATHS, censor: '[redacted]' },
    base: { service: config.name },
    timestamp: pino.stdTimeFunctions.isoTime,
  };
  if (config.destination) return pino(options, config.destination);
  if (config.bufferMs === undefined) return pino(options);
  const stream = pino.destination({ dest: 1, sync: false, minLength: 4096 });
  setInterval(() => {
    // flush() throws while the stream is still opening or after it ended; the next tick tries again.
    try {
      stream.flush();
    } catch {
      /* not writable yet */
    }
  }, config.bufferMs).unref();
  return pino(options, stream);
}
