import { mkdtempSync, readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { faultInfraEnv, settleFaultPorts, type FaultPorts } from './fault-infra.js';

function listen(port = 0): Promise<Server> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(port, '127.0.0.1', () => resolve(server));
  });
}

function portOf(server: Server): number {
  const address = server.address();
  if (typeof address !== 'object' || address === null) throw new Error('not listening');
  return address.port;
}

/** Four ports free right now (bound, read, released). */
async function freePorts(): Promise<FaultPorts> {
  const servers = await Promise.all([listen(), listen(), listen(), listen()]);
  const [kafka, controller, http, tcp] = servers.map(portOf) as [number, number, number, number];
  await Promise.all(servers.map((s) => new Promise((r) => s.close(r))));
  return { kafka, controller, http, tcp };
}

describe('fault infra ports', () => {
  const saved = { ...process.env };
  let dir: string;

  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'fault-ports-'));
    process.env.FAULTS_DATA_DIR = dir;
    for (const name of Object.keys(process.env)) {
      if (/^FAULTS_.*_PORT$/.test(name)) delete process.env[name];
    }
  });

  afterEach(() => {
    process.env = { ...saved };
  });

  it('keeps the defaults when they are free and records them', async () => {
    const defaults = await freePorts();
    await settleFaultPorts(defaults);
    expect(JSON.parse(readFileSync(join(dir, 'ports.json'), 'utf8'))).toEqual(defaults);
    expect(faultInfraEnv()).toMatchObject({
      MANIAC_DATA_DIR: dir,
      KAFKA_PORT: String(defaults.kafka),
      CLICKHOUSE_HTTP_PORT: String(defaults.http),
    });
  });

  it('moves to four other free ports when a default is taken by another process, and keeps them', async () => {
    const taken = await listen();
    try {
      const defaults = { ...(await freePorts()), kafka: portOf(taken) };
      await settleFaultPorts(defaults);
      const env = faultInfraEnv();
      const chosen = [
        env.KAFKA_PORT,
        env.KAFKA_CONTROLLER_PORT,
        env.CLICKHOUSE_HTTP_PORT,
        env.CLICKHOUSE_TCP_PORT,
      ].map(Number);
      expect(chosen).not.toContain(portOf(taken));
      expect(new Set(chosen).size).toBe(4);
      // A later run (ours still down, the recorded ports free) finds the same ports.
      await settleFaultPorts(defaults);
      expect(faultInfraEnv()).toEqual(env);
    } finally {
      await new Promise((r) => taken.close(r));
    }
  });

  it('never overrides ports given in the environment', async () => {
    const taken = await listen();
    try {
      process.env.FAULTS_KAFKA_PORT = String(portOf(taken));
      await settleFaultPorts({ ...(await freePorts()), kafka: portOf(taken) });
      expect(faultInfraEnv().KAFKA_PORT).toBe(String(portOf(taken)));
    } finally {
      await new Promise((r) => taken.close(r));
    }
  });
});
