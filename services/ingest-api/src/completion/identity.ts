import { randomUUID } from 'node:crypto';

/** `chatcmpl-` + 32 hex characters: the id returned to the client and the event's completion_id. */
export function newCompletionId(): string {
  return `chatcmpl-${randomUUID().replaceAll('-', '')}`;
}
