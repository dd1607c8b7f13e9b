import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type NatsServerHandle, freePort, waitForPort } from './nats-server.ts';

/** Options of {@link startNatsCluster}. */
export interface NatsClusterOptions {
  /** Number of nodes (3 tolerates the loss of one with R3 streams). @defaultValue 3 */
  size?: number;
  /** Binary to run. @defaultValue `$NATS_SERVER_BIN` or `nats-server` on PATH */
  bin?: string;
  /** How long to wait for a JetStream meta leader. @defaultValue 30_000 */
  readyTimeoutMs?: number;
}

/**
 * One node of a {@link NatsClusterHandle}: a server handle (`url` is this node alone; `restart()`
 * rejoins the cluster) without `stop()` and disposal, which the cluster does for all its nodes.
 */
export interface NatsClusterNode extends Pick<NatsServerHandle, 'url' | 'port' | 'storeDir' | 'pid' | 'kill' | 'restart'> {
  /** `server_name`: `n1`, `n2`, ... */
  readonly name: string;
}

/** A disposable nats-server cluster with JetStream on loopback. */
export interface NatsClusterHandle {
  /** Every node's client URL, comma-separated (`nats://127.0.0.1:p1,nats://127.0.0.1:p2,...`): a broker URL as is. */
  readonly url: string;
  readonly nodes: readonly NatsClusterNode[];
  /** Resolve once every running node sees a JetStream meta leader (after a kill or a restart). */
  waitForLeader(timeoutMs?: number): Promise<void>;
  /** Stop every node and delete the stores. */
  stop(): Promise<void>;
  /** {@link NatsClusterHandle.stop}, for `await using`. */
  [Symbol.asyncDispose](): Promise<void>;
}

interface Ports {
  client: number;
  route: number;
  monitor: number;
}

async function metaLeader(monitorPort: number): Promise<string | undefined> {
  try {
    const res = await fetch(`http://127.0.0.1:${monitorPort}/jsz`, { signal: AbortSignal.timeout(1000) });
    const body = (await res.json()) as { meta_cluster?: { leader?: string } };
    return body.meta_cluster?.leader || undefined;
  } catch {
    return undefined;
  }
}

/**
 * Start a nats-server cluster for a test: `size` nodes on random loopback ports, each with its own
 * `server_name`, JetStream store and routes to the others; resolves once JetStream has a meta
 * leader. Use R3 streams (`createApp({ streamReplicas: 3 })`) to survive the loss of a node.
 * @example
 * await using cluster = await startNatsCluster({ size: 3 });
 * const app = createApp({ broker: cluster.url, streamReplicas: 3 });
 * await cluster.nodes[0]?.kill();
 */
export async function startNatsCluster(options: NatsClusterOptions = {}): Promise<NatsClusterHandle> {
  const size = options.size ?? 3;
  if (!Number.isInteger(size) || size < 1) throw new Error(`startNatsCluster: size must be a positive integer, got ${size}`);
  // A free port can be taken by another process between its probe and the server's bind (tests
  // run in parallel): start again on new ports, a few times.
  for (let attempt = 1; ; attempt++) {
    try {
      return await startCluster(size, options);
    } catch (err) {
      if (attempt >= 3 || !/address already in use/.test(String((err as Error)?.message))) throw err;
    }
  }
}

async function startCluster(size: number, options: NatsClusterOptions): Promise<NatsClusterHandle> {
  const bin = options.bin ?? process.env.NATS_SERVER_BIN ?? 'nats-server';
  const root = await mkdtemp(join(tmpdir(), 'celeriac-cluster-'));
  const ports: Ports[] = [];
  for (let i = 0; i < size; i++) ports.push({ client: await freePort(), route: await freePort(), monitor: await freePort() });
  const procs: Array<ChildProcess | undefined> = new Array<ChildProcess | undefined>(size);
  const nodes: NatsClusterNode[] = [];

  const launch = async (i: number): Promise<void> => {
    const p = ports[i] as Ports;
    const name = `n${i + 1}`;
    const storeDir = join(root, name);
    const routes = ports.filter((_, j) => j !== i).map((o) => `"nats-route://127.0.0.1:${o.route}"`);
    const conf = join(root, `${name}.conf`);
    await writeFile(
      conf,
      [
        `server_name: ${name}`,
        `listen: 127.0.0.1:${p.client}`,
        `http: 127.0.0.1:${p.monitor}`,
        `jetstream { store_dir: "${storeDir}" }`,
        `cluster {`,
        `  name: celeriac`,
        `  listen: 127.0.0.1:${p.route}`,
        `  routes: [${routes.join(', ')}]`,
        `}`,
      ].join('\n'),
    );
    let output = '';
    const proc = spawn(bin, ['-c', conf], { stdio: ['ignore', 'pipe', 'pipe'] });
    procs[i] = proc;
    proc.stdout?.on('data', (d: Buffer) => (output += d.toString()));
    proc.stderr?.on('data', (d: Buffer) => (output += d.toString()));
    await new Promise<void>((resolve, reject) => {
      proc.once('error', (err) => reject(new Error(`cannot run ${bin} (set NATS_SERVER_BIN or install nats-server): ${err.message}`)));
      proc.once('spawn', () => resolve());
    });
    await waitForPort(p.client, proc, () => output);
  };

  const kill = async (i: number, signal: NodeJS.Signals = 'SIGKILL'): Promise<void> => {
    const proc = procs[i];
    if (!proc || proc.exitCode !== null || proc.signalCode !== null) return;
    await new Promise<void>((resolve) => {
      proc.once('exit', () => resolve());
      proc.kill(signal);
    });
  };

  const running = (): number[] => [...procs.keys()].filter((i) => procs[i] && procs[i].exitCode === null && procs[i].signalCode === null);

  const waitForLeader = async (timeoutMs = options.readyTimeoutMs ?? 30_000): Promise<void> => {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const leaders = await Promise.all(running().map((i) => metaLeader((ports[i] as Ports).monitor)));
      if (leaders.length > 0 && leaders.every((l) => l !== undefined)) return;
      if (Date.now() > deadline) throw new Error(`nats cluster: no JetStream meta leader within ${timeoutMs} ms (nodes see: ${JSON.stringify(leaders)})`);
      await new Promise((r) => setTimeout(r, 200));
    }
  };

  const stop = async (): Promise<void> => {
    await Promise.all(procs.map((_, i) => kill(i, 'SIGTERM')));
    await rm(root, { recursive: true, force: true });
  };

  try {
    await Promise.all(ports.map((_, i) => launch(i)));
    await waitForLeader();
  } catch (err) {
    await stop();
    throw err;
  }
  for (let i = 0; i < size; i++) {
    const p = ports[i] as Ports;
    nodes.push({
      name: `n${i + 1}`,
      url: `nats://127.0.0.1:${p.client}`,
      port: p.client,
      storeDir: join(root, `n${i + 1}`),
      get pid() {
        const proc = procs[i];
        return proc && proc.exitCode === null && proc.signalCode === null ? proc.pid : undefined;
      },
      kill: (signal) => kill(i, signal),
      restart: () => launch(i),
    });
  }
  return {
    url: nodes.map((n) => n.url).join(','),
    nodes,
    waitForLeader,
    stop,
    [Symbol.asyncDispose]: stop,
  };
}
