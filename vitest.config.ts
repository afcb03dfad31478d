import { defineConfig } from 'vitest/config';

// Workspace packages resolve to their TypeScript sources through the `development` export condition, so tests
// need no build step.
const resolve = { conditions: ['development'] };

export default defineConfig({
  resolve,
  test: {
    projects: [
      {
        resolve,
        test: {
          name: 'unit',
          sequence: { groupOrder: 0 },
          include: ['schemas/src/**/*.test.ts', 'packages/*/src/**/*.test.ts', 'services/*/src/**/*.test.ts'],
          environment: 'node',
          // Property tests run hundreds of generated cases: ~1 s alone, several on a loaded machine (5 s timed out).
          testTimeout: 30_000,
        },
      },
      {
        resolve,
        test: {
          name: 'integration',
          sequence: { groupOrder: 1 },
          include: ['packages/*/test/**/*.test.ts', 'services/*/test/**/*.test.ts', 'test/**/*.test.ts'],
          exclude: ['**/faults/**', '**/node_modules/**'],
          environment: 'node',
          testTimeout: 120_000,
          hookTimeout: 180_000,
          // Suites share one Kafka and one ClickHouse; each uses its own topics and database.
          maxWorkers: 2,
        },
      },
      {
        resolve,
        test: {
          // Fault injection stops, pauses and kills its own Kafka/ClickHouse (.data/faults on other ports, see
          // packages/testkit/src/fault-infra.ts), never the shared ones; the files still run one at a time.
          name: 'faults',
          sequence: { groupOrder: 2 },
          include: [
            'services/*/test/faults/**/*.test.ts',
            'packages/*/test/faults/**/*.test.ts',
            'test/faults/**/*.test.ts',
          ],
          environment: 'node',
          testTimeout: 300_000,
          hookTimeout: 300_000,
          fileParallelism: false,
        },
      },
    ],
  },
});
