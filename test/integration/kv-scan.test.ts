/** Reading every entry of a KV bucket on NATS while its keys are rewritten does not chase the writes. */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { createApp } from '../../src/index.ts';
import { type NatsServerHandle, startNatsServer } from '../../src/testing.ts';

let server: NatsServerHandle;
before(async () => {
  server = await startNatsServer();
});
after(async () => {
  await server.stop();
});

test('entries() of a bucket whose keys are rewritten every few ms returns promptly with every key', async () => {
  const app = createApp({ name: 'kvscan', broker: server.url });
  const kv = await app.keyValue('busy');
  const enc = new TextEncoder();
  for (let k = 0; k < 5; k++) await kv.put(`k${k}`, enc.encode('0'));
  let n = 0;
  let stop = false;
  const writer = (async () => {
    while (!stop) {
      await kv.put(`k${n % 5}`, enc.encode(String(++n)));
      await new Promise((r) => setTimeout(r, 5));
    }
  })();
  try {
    for (let i = 0; i < 3; i++) {
      const started = Date.now();
      const es = await kv.entries();
      const ms = Date.now() - started;
      assert.deepEqual(
        es.map((e) => e.key).sort(),
        ['k0', 'k1', 'k2', 'k3', 'k4'],
      );
      assert.ok(ms < 2000, `returned in ${ms} ms while the keys were rewritten (${n} writes so far)`);
    }
  } finally {
    stop = true;
    await writer;
    await app.close();
  }
});
