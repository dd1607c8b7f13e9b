/**
 * An in-repo TCP fault proxy on loopback (toxiproxy is not packaged for Debian): clients connect
 * to the proxy's port and it forwards to the target. Modes, switchable at any time:
 * - `pass`: forward both ways;
 * - `latency`: forward both ways, each chunk held `latencyMs` (order kept);
 * - `blackhole`: a partition. Connections are accepted, but nothing is forwarded either way: bytes
 *   wait (reading stops, so TCP flow control holds them) and flow again when the mode changes,
 *   as after a network partition that heals before TCP gives up;
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

interface Pair {
  client: Socket;
  upstream: Socket | null;
}

/** Start a proxy from a random loopback port to `127.0.0.1:targetPort`. */
export async function startTcpProxy(targetPort: number): Promise<TcpProxy> {
  let mode: ProxyMode = 'pass';
  let latencyMs = 0;
  let accepted = 0;
  const pairs = new Set<Pair>();

  const pipe = (from: Socket, to: Socket): void => {
    let chain = Promise.resolve();
    from.on('data', (chunk: Buffer) => {
      const wait = mode === 'latency' ? latencyMs : 0;
      chain = chain
        .then(() => (wait > 0 ? new Promise<void>((r) => setTimeout(r, wait)) : undefined))
        .then(() => {
          if (!to.destroyed) to.write(chunk);
        });
    });
  };

  const link = (pair: Pair): void => {
    const upstream = connect(targetPort, '127.0.0.1');
    pair.upstream = upstream;
    const end = () => {
      pairs.delete(pair);
      pair.client.destroy();
      upstream.destroy();
    };
    upstream.on('error', end).on('close', end);
    pipe(pair.client, upstream);
    pipe(upstream, pair.client);
    pair.client.resume();
  };

  const server: Server = createServer({ pauseOnConnect: true }, (client) => {
    accepted++;
    if (mode === 'reset') {
      client.resetAndDestroy();
      return;
    }
    const pair: Pair = { client, upstream: null };
    pairs.add(pair);
    client.on('error', () => undefined).on('close', () => {
      pairs.delete(pair);
      pair.upstream?.destroy();
    });
    // In a blackhole the connection is accepted and left hanging until the mode changes.
    if (mode !== 'blackhole') link(pair);
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
      for (const p of [...pairs]) {
        if (m === 'reset') {
          p.client.resetAndDestroy();
          p.upstream?.resetAndDestroy();
          pairs.delete(p);
        } else if (m === 'blackhole') {
          p.client.pause();
          p.upstream?.pause();
        } else if (p.upstream === null) link(p);
        else {
          p.client.resume();
          p.upstream.resume();
        }
      }
    },
    close: () =>
      new Promise<void>((resolve) => {
        for (const p of pairs) {
          p.client.destroy();
          p.upstream?.destroy();
        }
        pairs.clear();
        server.close(() => resolve());
      }),
  };
}
