/**
 * An in-repo TCP fault proxy on loopback (toxiproxy is not packaged for Debian): clients connect
 * to the proxy's port and it forwards to the target. Modes, switchable at any time:
 * - `pass`: forward both ways;
 * - `latency`: forward both ways, each chunk held `latencyMs` (order kept);
 * - `blackhole`: accept connections and read from them, but forward nothing either way;
 * - `reset`: destroy every open connection (RST) and every new one at once.
 */
import { type Server, type Socket, createServer, connect } from 'node:net';

/** What the proxy does to traffic. */
export type ProxyMode = 'pass' | 'latency' | 'blackhole' | 'reset';

/** A running proxy. */
export interface TcpProxy {
  readonly port: number;
  /** `nats://127.0.0.1:<port>` */
  readonly url: string;
  readonly mode: ProxyMode;
  /** Switch mode (`latency` takes the delay in ms). `reset` also destroys the open connections. */
  setMode(mode: ProxyMode, latencyMs?: number): void;
  /** Connections accepted so far. */
  readonly accepted: number;
  close(): Promise<void>;
}

/** Start a proxy from a random loopback port to `127.0.0.1:targetPort`. */
export async function startTcpProxy(targetPort: number): Promise<TcpProxy> {
  let mode: ProxyMode = 'pass';
  let latencyMs = 0;
  let accepted = 0;
  const pairs = new Set<{ client: Socket; upstream: Socket }>();

  const pipe = (from: Socket, to: Socket): void => {
    let chain = Promise.resolve();
    from.on('data', (chunk: Buffer) => {
      if (mode === 'blackhole') return;
      if (mode === 'latency' && latencyMs > 0) {
        const wait = latencyMs;
        chain = chain.then(() => new Promise<void>((r) => setTimeout(r, wait))).then(() => {
          if (!to.destroyed) to.write(chunk);
        });
        return;
      }
      chain = chain.then(() => {
        if (!to.destroyed) to.write(chunk);
      });
    });
  };

  const server: Server = createServer((client) => {
    accepted++;
    if (mode === 'reset') {
      client.resetAndDestroy();
      return;
    }
    const upstream = connect(targetPort, '127.0.0.1');
    const pair = { client, upstream };
    pairs.add(pair);
    const end = () => {
      pairs.delete(pair);
      client.destroy();
      upstream.destroy();
    };
    client.on('error', end).on('close', end);
    upstream.on('error', end).on('close', end);
    pipe(client, upstream);
    pipe(upstream, client);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const addr = server.address();
  const port = typeof addr === 'object' && addr ? addr.port : 0;
  return {
    port,
    url: `nats://127.0.0.1:${port}`,
    get mode() {
      return mode;
    },
    get accepted() {
      return accepted;
    },
    setMode(m, ms = 0) {
      mode = m;
      latencyMs = ms;
      if (m === 'reset') {
        for (const p of pairs) {
          p.client.resetAndDestroy();
          p.upstream.resetAndDestroy();
        }
        pairs.clear();
      }
    },
    close: () =>
      new Promise<void>((resolve) => {
        for (const p of pairs) {
          p.client.destroy();
          p.upstream.destroy();
        }
        server.close(() => resolve());
      }),
  };
}
