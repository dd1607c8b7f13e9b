/** The chaos harness's TCP fault proxy, against a loopback echo server. */
import assert from 'node:assert/strict';
import { type Socket, createServer, connect } from 'node:net';
import { after, before, test } from 'node:test';
import { type TcpProxy, startTcpProxy } from './lib/tcp-proxy.ts';

const echo = createServer((s) => {
  s.on('error', () => undefined);
  s.pipe(s);
});
let proxy: TcpProxy;
before(async () => {
  await new Promise<void>((r) => echo.listen(0, '127.0.0.1', r));
  const addr = echo.address();
  proxy = await startTcpProxy(typeof addr === 'object' && addr ? addr.port : 0);
});
after(async () => {
  await proxy.close();
  echo.close();
});

async function open(): Promise<Socket> {
  const s = connect(proxy.port, '127.0.0.1');
  await new Promise<void>((r, j) => s.once('connect', r).once('error', j));
  return s;
}

/** Send `text` and resolve with the echo and how long it took, or null after `timeoutMs`. */
function roundTrip(s: Socket, text: string, timeoutMs = 2000): Promise<{ text: string; ms: number } | null> {
  const t0 = Date.now();
  return new Promise((resolve) => {
    let got = '';
    const timer = setTimeout(() => {
      s.off('data', on);
      resolve(null);
    }, timeoutMs);
    const on = (d: Buffer) => {
      got += d.toString();
      if (got.length >= text.length) {
        clearTimeout(timer);
        s.off('data', on);
        resolve({ text: got, ms: Date.now() - t0 });
      }
    };
    s.on('data', on);
    s.write(text);
  });
}

test('pass-through, added latency, blackhole that heals, reset', async () => {
  proxy.setMode('pass');
  const s = await open();
  assert.equal((await roundTrip(s, 'hello'))?.text, 'hello');

  proxy.setMode('latency', 150);
  const slow = await roundTrip(s, 'slow!');
  assert.equal(slow?.text, 'slow!');
  assert.ok((slow?.ms ?? 0) >= 280, `two hops of 150 ms, took ${slow?.ms} ms`);

  proxy.setMode('blackhole');
  const held = roundTrip(s, 'held', 3000);
  const fresh = await open(); // a new connection is accepted, and hangs
  const freshTrip = roundTrip(fresh, 'new', 3000);
  await new Promise((r) => setTimeout(r, 400));
  proxy.setMode('pass');
  assert.equal((await held)?.text, 'held', 'bytes held in the blackhole flow once it heals');
  assert.equal((await freshTrip)?.text, 'new');

  const closed = new Promise<void>((r) => s.once('close', () => r()));
  s.on('error', () => undefined);
  proxy.setMode('reset');
  await closed;
  const refused = connect(proxy.port, '127.0.0.1');
  const outcome = await new Promise<string>((r) => {
    refused.once('error', (e: NodeJS.ErrnoException) => r(e.code ?? 'error'));
    refused.once('close', () => r('closed'));
  });
  assert.ok(['ECONNRESET', 'closed'].includes(outcome), outcome);
  fresh.destroy();
  proxy.setMode('pass');
});
