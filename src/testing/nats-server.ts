import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer, connect as netConnect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** Options of {@link startNatsServer}. */
export interface NatsServerOptions {
  /** Binary to run. @defaultValue `$NATS_SERVER_BIN` or `nats-server` on PATH */
  bin?: string;
  /** Extra command-line arguments. */
  args?: string[];
}

/** A disposable nats-server with JetStream on a random loopback port and a temporary store. */
export interface NatsServerHandle {
  /** `nats://127.0.0.1:<port>` */
  readonly url: string;
  readonly port: number;
  readonly storeDir: string;
  /** Process id of the current server process. */
  readonly pid: number | undefined;
  /** Kill the server (SIGKILL by default) and wait for it to exit. The store is kept. */
  kill(signal?: NodeJS.Signals): Promise<void>;
  /** Start it again on the same port with the same store. */
  restart(): Promise<void>;
  /** Stop it and delete the store. */
  stop(): Promise<void>;
  /** {@link NatsServerHandle.stop}, for `await using`. */
  [Symbol.asyncDispose](): Promise<void>;
}

/** @internal A free TCP port on loopback. */
export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.unref();
    s.on('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const addr = s.address();
      const port = typeof addr === 'object' && addr ? addr.port : 0;
      s.close(() => resolve(port));
    });
  });
}

/** @internal Resolve once the server listens on `port` and logged "Server is ready"; reject if it exits. */
export async function waitForPort(port: number, proc: ChildProcess, log: () => string, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (proc.exitCode !== null) throw new Error(`nats-server exited with code ${proc.exitCode}:\n${log()}`);
    const ok = await new Promise<boolean>((resolve) => {
      const sock = netConnect(port, '127.0.0.1');
      sock.once('connect', () => {
        sock.destroy();
        resolve(true);
      });
      sock.once('error', () => resolve(false));
    });
    if (ok && /Server is ready/.test(log())) return;
    if (Date.now() > deadline) throw new Error(`nats-server did not start on port ${port} within ${timeoutMs} ms:\n${log()}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/**
 * Start a nats-server with JetStream for a test: random port, temporary store directory, killed
 * and cleaned up by `stop()` (or `await using`).
 * @example
 * await using server = await startNatsServer();
 * const app = createApp({ broker: server.url });
 */
export async function startNatsServer(options: NatsServerOptions = {}): Promise<NatsServerHandle> {
  const bin = options.bin ?? process.env.NATS_SERVER_BIN ?? 'nats-server';
  const storeDir = await mkdtemp(join(tmpdir(), 'celeriac-nats-'));
  const port = await freePort();
  let proc: ChildProcess | undefined;
  let output = '';
  const launch = async () => {
    output = '';
    proc = spawn(bin, ['-a', '127.0.0.1', '-p', String(port), '-js', '-sd', storeDir, ...(options.args ?? [])], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    proc.stdout?.on('data', (d: Buffer) => (output += d.toString()));
    proc.stderr?.on('data', (d: Buffer) => (output += d.toString()));
    const p = proc;
    await new Promise<void>((resolve, reject) => {
      p.once('error', (err) => reject(new Error(`cannot run ${bin} (set NATS_SERVER_BIN or install nats-server): ${err.message}`)));
      p.once('spawn', () => resolve());
    });
    await waitForPort(port, p, () => output);
  };
  const kill = async (signal: NodeJS.Signals = 'SIGKILL') => {
    const p = proc;
    if (!p || p.exitCode !== null || p.signalCode !== null) return;
    await new Promise<void>((resolve) => {
      p.once('exit', () => resolve());
      p.kill(signal);
    });
  };
  await launch();
  const handle: NatsServerHandle = {
    url: `nats://127.0.0.1:${port}`,
    port,
    storeDir,
    get pid() {
      return proc?.pid;
    },
    kill,
    restart: launch,
    async stop() {
      await kill('SIGTERM');
      await rm(storeDir, { recursive: true, force: true });
    },
    [Symbol.asyncDispose]() {
      return this.stop();
    },
  };
  return handle;
}
