/**
 * A stand-in OpenAI upstream for the examples: the testkit's scriptable mock on a free port. Prints
 * `OPENAI_BASE_URL=<url>` once listening (point the gateway at it), and runs until it is stopped.
 *
 *   npx tsx --conditions=development examples/mock-upstream.ts
 */
import { MockUpstream } from '@maniac-gateway/testkit';

const mock = new MockUpstream();
const url = await mock.start();
console.log(`OPENAI_BASE_URL=${url}`);

const stop = () => {
  void mock.stop().then(() => process.exit(0));
};
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
