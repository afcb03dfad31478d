import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { createLogger, fixedInfoLine } from './logger.js';
import { runInChildNode } from './testing/child-node.js';

function capture() {
  const lines: string[] = [];
  const destination = new Writable({
    write(chunk: Buffer | string, _enc, done) {
      lines.push(chunk.toString());
      done();
    },
  });
  return { lines, destination };
}

const withoutTime = (line: string) => line.replace(/,"time":"[^"]+"/, '');

describe('fixedInfoLine', () => {
  it('writes the same line as pino would through a child logger', () => {
    const { lines, destination } = capture();
    const logger = createLogger({ name: 'svc', level: 'info', destination });
    const write = fixedInfoLine(logger, 'request');
    expect(write).not.toBeNull();
    logger
      .child({ request_id: 'req_1' })
      .info({ method: 'POST', route: '/v1/chat/completions', status: 200, ms: 1.5 }, 'request');
    write?.(',"request_id":"req_1","method":"POST","route":"/v1/chat/completions","status":200,"ms":1.5');
    expect(lines).toHaveLength(2);
    expect(withoutTime(lines[1] as string)).toBe(withoutTime(lines[0] as string));
    const parsed = JSON.parse(lines[1] as string) as Record<string, unknown>;
    expect(parsed).toMatchObject({
      level: 30,
      service: 'svc',
      request_id: 'req_1',
      status: 200,
      msg: 'request',
    });
    expect(new Date(parsed.time as string).getTime()).toBeGreaterThan(0);
  });

  it('follows the logger level, also when it changes', () => {
    const { lines, destination } = capture();
    const logger = createLogger({ name: 'svc', level: 'warn', destination });
    const write = fixedInfoLine(logger, 'request');
    write?.(',"status":200');
    expect(lines).toHaveLength(0);
    logger.level = 'info';
    write?.(',"status":200');
    expect(lines).toHaveLength(1);
  });
});

describe('createLogger with bufferMs (stdout in chunks)', () => {
  const script = (ending: string) => `
    import { createLogger } from ${JSON.stringify(new URL('./logger.ts', import.meta.url).href)};
    const log = createLogger({ name: 'buffered', level: 'info', bufferMs: 60_000 });
    for (let i = 0; i < 2000; i++) log.info({ i, pad: 'x'.repeat(i % 97) }, 'line');
    ${ending}
  `;
  const run = (ending: string) => runInChildNode(script(ending));

  for (const [name, ending] of [
    ['the event loop empties', ''],
    ['process.exit() is called', 'process.exit(3);'],
    ['an uncaught exception ends the process', "setTimeout(() => { throw new Error('boom'); }, 5);"],
  ] as const) {
    it(`writes every line, in order, when ${name}`, () => {
      const result = run(ending);
      const lines = result.stdout.split('\n').filter((l) => l.length > 0);
      expect(lines.map((l) => (JSON.parse(l) as { i: number }).i)).toEqual(
        Array.from({ length: 2000 }, (_, i) => i),
      );
    });
  }
});
