import type { IHeaders, Producer } from '@maniac-gateway/runtime';

/**
 * Poison events go to the dead-letter topic unchanged (same key, value and headers) with the reason added as
 * `x-dlq-*` headers, so they can be inspected, fixed and replayed onto the completions topic.
 */

export type DeadLetterStage = 'decode' | 'project' | 'insert';

export interface DeadLetter {
  topic: string;
  partition: number;
  offset: bigint;
  key: Buffer | null;
  value: Buffer | null;
  headers: IHeaders | undefined;
  stage: DeadLetterStage;
  /** Machine-readable: missing_schema_header, unknown_schema, corrupt_payload, invalid_payload, invalid_event, clickhouse_rejected, empty_value. */
  reason: string;
  error: string;
}

export const DLQ_HEADERS = {
  reason: 'x-dlq-reason',
  stage: 'x-dlq-stage',
  error: 'x-dlq-error',
  topic: 'x-dlq-source-topic',
  partition: 'x-dlq-source-partition',
  offset: 'x-dlq-source-offset',
  group: 'x-dlq-consumer-group',
  at: 'x-dlq-at',
} as const;

const MAX_ERROR_LENGTH = 2000;

export function deadLetterHeaders(letter: DeadLetter, groupId: string, nowMs: number = Date.now()): IHeaders {
  const headers: IHeaders = {};
  for (const [name, value] of Object.entries(letter.headers ?? {})) {
    if (value !== undefined && !name.startsWith('x-dlq-')) headers[name] = value;
  }
  headers[DLQ_HEADERS.reason] = letter.reason;
  headers[DLQ_HEADERS.stage] = letter.stage;
  headers[DLQ_HEADERS.error] = letter.error.slice(0, MAX_ERROR_LENGTH);
  headers[DLQ_HEADERS.topic] = letter.topic;
  headers[DLQ_HEADERS.partition] = String(letter.partition);
  headers[DLQ_HEADERS.offset] = letter.offset.toString();
  headers[DLQ_HEADERS.group] = groupId;
  headers[DLQ_HEADERS.at] = new Date(nowMs).toISOString();
  return headers;
}

export class DeadLetterQueue {
  constructor(
    private readonly producer: Producer,
    readonly topic: string,
    private readonly groupId: string,
  ) {}

  /** Sends the letters (in order) and waits for every in-sync replica to have them. */
  async send(letters: readonly DeadLetter[]): Promise<void> {
    if (letters.length === 0) return;
    await this.producer.send({
      topic: this.topic,
      acks: -1,
      messages: letters.map((l) => ({
        key: l.key,
        value: l.value,
        headers: deadLetterHeaders(l, this.groupId),
      })),
    });
  }
}
