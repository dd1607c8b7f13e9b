/**
 * The seed book's e-commerce order processing, ported and completed: one order step by step, then a
 * batch (a group) in which a payment is retried, a card is declined, a parcel cannot ship and a
 * product is sold out, each ending as the saga says. `npx tsx examples/ecommerce-orders/main.ts`;
 * with CELERIAC_BROKER_URL=nats://127.0.0.1:4222 the same code runs on NATS JetStream.
 */
import { group, retryDelayMs } from '../../src/index.ts';
import type { SagaOutcome } from '../../plugins/saga/index.ts';
import { BATCH, SINGLE } from './orders.ts';
import { type Order, gateway, inventory, mailer, money, supportDesk } from './stubs.ts';
import { QUEUES, RECHECK_AFTER, app, backorder, chargePayment, placeOrder, recheckInventory, submitOrder } from './tasks.ts';

const say = (s: string) => process.stdout.write(s + '\n');
const pad = (s: string, n: number) => s.padEnd(n);
const queueOf = (task: string) => app.getTask(task)?.options.queue ?? '?';

// A clean slate when run twice against the same broker.
for (const q of QUEUES) await app.purge(q);
await app.deadLetters.purge();

// One worker consuming the four queues (a deployment may as well run a worker per queue: README, "Workers").
const worker = app.worker({ queues: QUEUES, concurrency: 16 });
await worker.start();
const [reply] = await app.control.inspect({ destination: [worker.name] }).activeQueues();
say(`worker consumes    -> ${reply?.ok ? reply.result.map((q) => q.queue).sort().join(', ') : '?'}`);
say(`stock before       -> ${inventory.describe()}`);

/** How long the retries of an order's charge waited, against the task's back-off policy. */
function backoff(orderId: string): string {
  const times = gateway.attempts.get(orderId) ?? [];
  if (times.length < 2) return '';
  const gaps = times.slice(1).map((t, i) => t - (times[i] as number));
  const policy = gaps.map((_, i) => retryDelayMs(chargePayment.options.retry, i + 1));
  const kept = gaps.every((g, i) => g >= (policy[i] as number));
  return ` (gateway timed out ${gaps.length}x, retried after ${kept ? policy.map((ms) => `>= ${ms} ms`).join(', ') : `only ${gaps.join(', ')} ms`})`;
}

/** One line for a finished saga; for a compensated one, waits for its failed step's follow-up. */
async function outcomeLine(order: Order, sagaId: string, out: SagaOutcome): Promise<string> {
  const head = `order ${pad(order.orderId, 13)}-> ${out.state}`;
  if (out.state === 'SUCCESS') {
    const charge = out.history[2]?.result as { amount: string; attempts: number };
    return `${head}: charged ${charge.amount} on attempt ${charge.attempts}${backoff(order.orderId)}, shipped TRK-${order.orderId}, confirmation mailed`;
  }
  const failed = out.history.findIndex((s) => s.status === 'failed');
  const step = out.history[failed];
  const undone = out.history.slice(0, failed).reverse().filter((s) => s.status === 'compensated' && s.compensation !== null).map((s) => s.compensation);
  const followUp = app.asyncResult(`${sagaId}.step${failed}.followup`);
  await followUp.get({ timeout: '10s' });
  return `${head} at ${step?.task} (${step?.error?.name}: ${step?.error?.message}); undone: ${undone.join(', ') || 'nothing'}; follow-up: ${(await followUp.info()).name}`;
}

// One order, step by step (the book's "Processing single order...").
const single = await placeOrder.apply(SINGLE);
const first = await single.get({ timeout: '20s' });
for (const s of first.history) say(`  ${pad(s.task, 19)} [${pad(queueOf(s.task) + ']', 10)} -> ${s.status} ${JSON.stringify(s.result)}`);
say(await outcomeLine(SINGLE, single.id, first));

// A batch: a group of orders.submit, each starting its order's saga (the book's process_order_batch).
const batch = await group(BATCH.map((o) => submitOrder.s(o))).applyAsync();
const sagaIds = await batch.get({ timeout: '20s' });
say(`batch              -> group of ${sagaIds.length} orders.submit, ${sagaIds.length} sagas started`);
for (const [i, order] of BATCH.entries()) {
  const id = sagaIds[i] as string;
  say(await outcomeLine(order, id, await placeOrder.runOf(id).get({ timeout: '20s' })));
}

// The sold-out order: backordered, its recheck scheduled an hour ahead. Read it back from the broker.
const soldOut = BATCH[4] as Order;
const bo = (await app.asyncResult(`${sagaIds[4]}.step1.followup`).get({ timeout: '10s' })) as Awaited<ReturnType<typeof backorder.fn>>;
await app.asyncResult(bo.mailId).get({ timeout: '10s' });
const recheck = app.asyncResult(bo.recheckId);
const scheduled = await recheck.info();
const etaMin = Math.round((Date.parse(String(scheduled.meta?.eta)) - Date.now()) / 60_000);
const listed = (await app.scheduled({ limit: 1000 })).some((e) => e.id === bo.recheckId);
say(`backorder ${pad(soldOut.orderId, 9)}-> ${bo.backorderId}, customer mailed, ${recheckInventory.name} in ${RECHECK_AFTER}: ${scheduled.status} on ${String(scheduled.meta?.queue)}, eta in ${etaMin} min${listed ? ', listed by app.scheduled()' : ''}`);

// The demo does not wait an hour: stock arrives, the scheduled check is revoked and the same task runs now.
inventory.restock('PROD-003', 5);
say(`restock            -> PROD-003 +5`);
await recheck.revoke();
const now = await (await recheckInventory.delay(soldOut, bo.backorderId)).get({ timeout: '10s' });
say(`recheck ${pad(soldOut.orderId, 11)}-> run now instead of in ${RECHECK_AFTER} (the scheduled one is ${await recheck.state()}): ${now.status}`);
if (now.status === 'resumed') say(await outcomeLine(soldOut, now.sagaId, await placeOrder.runOf(now.sagaId).get({ timeout: '20s' })));

// What the stubs hold now: the compensations really ran.
const byStatus = (status: string) => [...inventory.reservations.values()].filter((r) => r.status === status).map((r) => r.orderId).sort().join(', ');
say(`stock after        -> ${inventory.describe()}`);
say(`reservations       -> shipped: ${byStatus('shipped')}; released: ${byStatus('released')}`);
const charges = [...gateway.charges].sort(([a], [b]) => a.localeCompare(b));
say(`payments           -> captured: ${charges.filter(([, c]) => !c.refunded).map(([o]) => o).join(', ')}; refunded: ${charges.filter(([, c]) => c.refunded).map(([o, c]) => `${o} ${money(c.cents, c.currency)}`).join(', ')}`);
for (const m of [...mailer.outbox].sort((a, b) => a.orderId.localeCompare(b.orderId))) say(`mail               -> ${m.to}: ${m.subject}`);
for (const a of supportDesk.alerts) say(`support alert      -> ${a.orderId}: ${a.reason}`);

await worker.stop();
await app.close();
say('done');
