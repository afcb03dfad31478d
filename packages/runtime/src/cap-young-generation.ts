/**
 * Imported first by the entry points of the processes that serve chat (ingest-api's server, the CLI), before they
 * load anything else: start-up alone would otherwise grow V8's young generation to its 32 MB, which V8 does not
 * give back. See young-generation.ts.
 */
import { holdYoungGenerationThroughStartUp } from './young-generation.js';

holdYoungGenerationThroughStartUp();
