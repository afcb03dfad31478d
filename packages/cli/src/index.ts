export { composeComponents } from './compose.js';
