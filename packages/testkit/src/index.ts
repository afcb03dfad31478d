export * from './mock-upstream.js';
export * from './fixtures.js';
