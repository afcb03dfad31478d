import { createServer } from 'node:net';

/** Binds the port on loopback and releases it: the port number if it was free (0 asks the OS for any), else null. */
export function tryPort(port: number): Promise<number | null> {
  return new Promise((resolve) => {
    const server = createServer();
    server.once('error', () => resolve(null));
    server.listen(port, '127.0.0.1', () => {
      const address = server.address();
      const bound = typeof address === 'object' && address ? address.port : null;
      server.close(() => resolve(bound));
    });
  });
}

/** A loopback port that is free right now (for a service a test starts). */
export async function freePort(): Promise<number> {
  const port = await tryPort(0);
  if (port === null) throw new Error('no free loopback port');
  return port;
}
