/**
 * Imported first by the entry points of the processes that serve chat (ingest-api's server, the CLI), before they
 * load anything else: start-up alone would otherwise grow V8's young generation to its 32 MB, which V8 does not
 * give back. `startHost` then sets the configured `server.young_generation_mb`. See young-generation.ts.
 */
import { DEFAULT_YOUNG_GENERATION_MB, capYoungGeneration } from './young-generation.js';

capYoungGeneration(DEFAULT_YOUNG_GENERATION_MB);
