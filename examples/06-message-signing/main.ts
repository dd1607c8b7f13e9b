/**
 * Signed and encrypted tasks (docs/guide/message-signing.md): a worker runs what the app signs and
 * refuses, before decoding, what a process with broker access but without the key publishes — a
 * forged signature, an unsigned task, an unsigned control shutdown.
 * `npx tsx examples/06-message-signing/main.ts`; with CELERIAC_BROKER_URL=nats://127.0.0.1:4222 the
 * same code uses NATS JetStream.
 */
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { createApp } from '../../src/index.ts';

const say = (s: string) => process.stdout.write(s + '\n');
const broker = process.env.CELERIAC_BROKER_URL || 'memory://signing-demo';

// In production the keys come from files: `celeriac keys generate --id prod-2025 --aes --out keys/`,
// then signingKey: 'keys/prod-2025.key', encryptionKey: 'keys/prod-2025.aes'.
const { privateKey } = generateKeyPairSync('ed25519');
const aesKey = randomBytes(32);

export const app = createApp({
  name: 'signing-demo',
  broker,
  security: { signingKey: privateKey, keyId: 'prod-2025', encryptionKey: aesKey, encryptionKeyId: 'aes-2025' },
});
export const refund = app.task('payments.refund', async (_ctx, order: string, cents: number) => `refunded ${cents} on ${order}`);

await app.deadLetters.purge(); // a clean slate when run twice against the same broker
const worker = app.worker({ concurrency: 4 });
await worker.start();
say(`signed task        -> ${await (await refund.delay('order-7', 1250)).get({ timeout: '10s' })}`);

// Two processes with broker access and no key: one signs with its own key under our key id, one
// does not sign at all.
const intruder = createApp({ name: 'signing-demo', broker, security: { signingKey: generateKeyPairSync('ed25519').privateKey, keyId: 'prod-2025' } });
const unsigned = createApp({ name: 'signing-demo', broker });
const forged = await intruder.sendTask('payments.refund', ['order-7', 999_999]);
const plain = await unsigned.sendTask('payments.refund', ['order-8', 999_999]);
while ((await app.deadLetters.count()) < 2) await new Promise((r) => setTimeout(r, 50));
for (const [label, id] of [['forged', forged.id], ['unsigned', plain.id]] as const) {
  const [entry] = await app.deadLetters.show(id);
  say(`${label.padEnd(18)} -> dead-lettered (${entry?.reason}): ${entry?.error?.message}`);
}
const replies = await unsigned.control.shutdown({ timeout: '1s' });
say(`unsigned shutdown  -> ${replies.map((r) => (r.ok ? 'ok' : r.error.code)).join(', ')}; worker ${worker.state}`);
say(`refused by reason  -> ${JSON.stringify(app.security?.rejected)}`);

await worker.stop();
await Promise.all([intruder.close(), unsigned.close(), app.close()]);
say('done');
