export { QueryApi, type QueryApiDeps } from './app.js';
export { queryApi, listFilter, type QueryApiOptions } from './plugin.js';
export { CompletionStore, type StoredCompletion, type ListParams } from './completion-store.js';
export { renderCompletion, spendUsd } from './render.js';
export { modelId, uuidV5, canonicalModel, modelFilter, MODEL_ID_NAMESPACE } from './model-id.js';
export { UsageStore, UsageQuery, resolveRange, USAGE_DIMENSIONS } from './usage.js';
export { sql, ident, raw, inList, joinSql, Sql } from './sql.js';
export {
  DatasetExporter,
  DatasetQuery,
  datasetFilter,
  fineTuningExample,
  resolveDatasetContainer,
  type DatasetFilter,
  type DatasetRow,
  type DatasetChunk,
  type DatasetWindow,
  type DatasetContainer,
  type DatasetExporterOptions,
} from './dataset.js';
