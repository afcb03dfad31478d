import { spawn, type ChildProcess } from 'node:child_process';
import { connect } from 'node:net';
import { pollUntil } from './fixtures.js';
import { freePort } from './ports.js';

/** A throwaway redis-server on a free loopback port, no persistence (for multi-instance limit tests). */
export class RedisProcess {
  private child: ChildProcess | null = null;
  port = 0;

  get url(): string {
    return `redis://127.0.0.1:${this.port}`;
  }

  async start(): Promise<void> {
    if (!this.port) this.port = await freePort();
    this.child = spawn(
      'redis-server',
      ['--port', String(this.port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'],
      {
        stdio: 'ignore',
      },
    );
    const child = this.child;
    await pollUntil(
      () =>
        new Promise<true | undefined>((resolve) => {
          if (child.exitCode !== null) throw new Error(`redis-server exited with ${child.exitCode}`);
          const socket = connect(this.port, '127.0.0.1');
          socket.once('connect', () => {
            socket.destroy();
            resolve(true);
          });
          socket.once('error', () => resolve(undefined));
        }),
      {
        timeoutMs: 10_000,
        message: 'redis-server did not start (is it installed? apt-get install redis-server)',
      },
    );
  }

  async stop(): Promise<void> {
    const child = this.child;
    this.child = null;
    if (!child || child.exitCode !== null) return;
    await new Promise<void>((resolve) => {
      child.once('exit', () => resolve());
      child.kill('SIGKILL');
    });
  }
}
