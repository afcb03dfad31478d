export * from './mock-upstream.js';
export * from './fixtures.js';
export * from './native-wire.js';
export * from './fault-infra.js';
export * from './redis-process.js';
export * from './ports.js';
