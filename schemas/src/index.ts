export * from './api/index.js';
export * from './validation.js';
export * from './events.js';
export * from './json-body.js';
