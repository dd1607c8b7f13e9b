/**
 * Failure handling in one run: retries with back-off, a non-retried error, Reject, a soft time
 * limit, revoke, and the dead-letter stream (list and replay). `npx tsx examples/02-failures/main.ts`;
 * with CELERIAC_BROKER_URL=nats://127.0.0.1:4222 the same code uses NATS JetStream.
 */
import { isTaskError } from '../../src/index.ts';
import { app, charge, exportAll, fetchRates, report, ship } from './tasks.ts';

const say = (s: string) => process.stdout.write(s + '\n');
const failure = async (r: { get(o: { timeout: string }): Promise<unknown> }) => {
  try {
    await r.get({ timeout: '10s' });
    return 'succeeded?';
  } catch (err) {
    if (!isTaskError(err)) throw err;
    return `${err.remote.name}: ${err.remote.message}`;
  }
};

await app.deadLetters.purge(); // a clean slate when run twice against the same broker
const worker = app.worker({ concurrency: 8 });
await worker.start();

const rates = await fetchRates.delay('EUR');
say(`rates.fetch       -> ${JSON.stringify(await rates.get({ timeout: '10s' }))}`);

const bad = await charge.delay(-5);
say(`payments.charge   -> ${await failure(bad)} (not retried)`);

const order = await ship.delay('discontinued-lamp');
say(`orders.ship       -> ${await failure(order)}`);

const rep = await report.delay(100);
say(`reports.build     -> ${JSON.stringify(await rep.get({ timeout: '10s' }))} (soft time limit)`);

const exp = await exportAll.delay();
await new Promise((r) => setTimeout(r, 100));
await exp.revoke();
say(`export.all        -> ${await exp.state()} after revoke()`);

for (const d of await app.deadLetters.list()) say(`dead letter       -> ${d.task} ${d.reason}: ${d.error?.message}`);

// A fixed order goes back in: replay re-publishes the original message under its id.
const [replayed] = await app.deadLetters.replay({ ids: [bad.id] });
say(`replayed ${replayed === bad.id ? 'payments.charge' : '?'}  -> ${await failure(bad)} (same input, same outcome)`);
// The FAILURE result is stored just before its dead letter (docs/guide/failures.md), so get() can
// return a moment before the copy is in the stream: wait for it (at most 5 s).
let left = await app.deadLetters.count();
for (let i = 0; left < 2 && i < 50; i++) {
  await new Promise((r) => setTimeout(r, 100));
  left = await app.deadLetters.count();
}
say(`dead letters left -> ${left}`);

await worker.stop();
await app.close();
say('done');
