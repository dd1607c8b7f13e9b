/**
 * What the bench ran on: CPU, memory, load, versions of the servers and client libraries, and
 * whether Redis answers (BullMQ probes are skipped when it does not).
 * @module
 */
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { connect as netConnect } from 'node:net';
import { cpus, loadavg, release, totalmem } from 'node:os';
import { ROOT } from './child.ts';

export interface MachineInfo {
  cpu: string;
  cores: number;
  memGiB: number;
  kernel: string;
  node: string;
  natsServer: string;
  redis: string | null;
  /** Version of the `ioredis` package BullMQ loads (it is an optional peer of bullmq), or null. */
  ioredis: string | null;
  packages: Record<string, string>;
  loadavgStart: number[];
}

function pkgVersion(name: string): string {
  try {
    return (JSON.parse(readFileSync(`${ROOT}node_modules/${name}/package.json`, 'utf8')) as { version: string }).version;
  } catch {
    return 'unknown';
  }
}

function natsServerVersion(): string {
  try {
    return execFileSync(process.env.NATS_SERVER_BIN ?? 'nats-server', ['--version'], { encoding: 'utf8', timeout: 5_000 }).trim();
  } catch {
    return 'unknown';
  }
}

/** `redis_version` from `INFO server` on host:port, or null when nothing answers within 1 s. */
export function redisVersion(port: number, host = '127.0.0.1'): Promise<string | null> {
  return new Promise((resolve) => {
    let buf = '';
    const sock = netConnect(port, host);
    const finish = (v: string | null) => {
      clearTimeout(timer);
      sock.destroy();
      resolve(v);
    };
    const timer = setTimeout(() => finish(null), 1_000);
    sock.once('error', () => finish(null));
    sock.once('connect', () => sock.write('INFO server\r\n'));
    sock.on('data', (d: Buffer) => {
      buf += d.toString();
      const m = /redis_version:([^\r\n]+)/.exec(buf);
      if (m) finish(m[1] ?? 'unknown');
      else if (buf.startsWith('-')) finish(null);
    });
  });
}

/** Version of `ioredis` as bullmq would resolve it (honours NODE_PATH), or null when it cannot. */
export function ioredisForBullmq(): string | null {
  try {
    const req = createRequire(`${ROOT}node_modules/bullmq/package.json`);
    const main = req.resolve('ioredis');
    const pkg = main.slice(0, main.lastIndexOf('node_modules/ioredis/') + 'node_modules/ioredis/'.length);
    return (JSON.parse(readFileSync(`${pkg}package.json`, 'utf8')) as { version: string }).version;
  } catch {
    return null;
  }
}

export async function machineInfo(redisPort: number): Promise<MachineInfo> {
  return {
    cpu: cpus()[0]?.model ?? 'unknown',
    cores: cpus().length,
    memGiB: Math.round(totalmem() / 1024 ** 3),
    kernel: release(),
    node: process.version,
    natsServer: natsServerVersion(),
    redis: await redisVersion(redisPort),
    ioredis: ioredisForBullmq(),
    packages: Object.fromEntries(
      ['@nats-io/transport-node', '@nats-io/jetstream', 'msgpackr', 'bullmq', 'tsx'].map((p) => [p, pkgVersion(p)]),
    ),
    loadavgStart: loadavg().map((l) => Math.round(l * 100) / 100),
  };
}
