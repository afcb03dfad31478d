export { IngestApi, type IngestDeps } from './app.js';
export { CompletionService } from './completion/service.js';
export { parseSlug, planRoute, canonicalSlug } from './routing.js';
export { PriceBook } from './pricing/price-book.js';
export { ContainerDirectory } from './containers/container-directory.js';
export { ContainerService, containerView } from './containers/container-service.js';
