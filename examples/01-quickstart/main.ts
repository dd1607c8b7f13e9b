/**
 * `npm start`: a worker and a producer in one process on the embedded `memory://` transport.
 * With CELERIAC_BROKER_URL=nats://127.0.0.1:4222 the same code uses NATS JetStream.
 */
import { isTaskError } from '../../src/index.ts';
import { add, app, chargeCard, fetchGreeting, hash, importRows } from './tasks.ts';

const say = (s: string) => process.stdout.write(s + '\n');

const worker = app.worker({ concurrency: 16, cpuThreads: 2, tasksModule: new URL('./tasks.ts', import.meta.url).href, grace: '5s' });
await worker.start();
say(`worker started on ${app.options.broker} with tasks: ${app.taskNames().join(', ')}`);

const sum = await add.delay(2, 3);
say(`math.add(2, 3)          -> ${await sum.get({ timeout: '10s' })}`);

const greetings = await Promise.all(['Ada', 'Grace', 'Linus'].map((n) => fetchGreeting.delay(n)));
for (const g of greetings) say(`web.greet               -> ${await g.get({ timeout: '10s' })}`);

const digest = await hash.delay('celeriac', 20_000);
say(`crypto.hash (thread)    -> ${(await digest.get({ timeout: '30s' })).slice(0, 16)}...`);

const job = await importRows.delay(5);
for await (const update of job.watch()) {
  if (update.status === 'PENDING') say('data.import             -> queued');
  else if (update.status === 'PROGRESS') say(`data.import progress    -> ${JSON.stringify(update.meta)}`);
  else say(`data.import ${update.status.padEnd(12)}-> ${JSON.stringify(update.result)}`);
}

const charge = await chargeCard.delay(1_000_000);
try {
  await charge.get({ timeout: '10s' });
} catch (err) {
  if (!isTaskError(err)) throw err;
  say(`payments.charge         -> ${await charge.state()}: ${err.remote.name}: ${err.remote.message}`);
}

await worker.stop();
await app.close();
say('done');
