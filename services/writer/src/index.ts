export * from './writer.js';
export * from './migrate.js';
export * from './projection.js';
export * from './dead-letter.js';
export { ClickHouseSink, isDataError, describeError } from './clickhouse-sink.js';
export * from './rebuild.js';
