import type { HostContext, HostedComponent } from '@maniac-gateway/runtime';
import { IngestApi } from '@maniac-gateway/ingest-api';

/** Every service of the gateway as components of one process (`maniac-gateway start`, `npm start`). */
export function composeComponents(ctx: HostContext): HostedComponent[] {
  return [new IngestApi(ctx)];
}
