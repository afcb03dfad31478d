export * from './mock-upstream.js';
export * from './fixtures.js';
export * from './native-wire.js';
