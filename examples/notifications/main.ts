/**
 * The notification system in one run: an urgent notice overtakes a backlog, a notice fans out to
 * e-mail, SMS and push, a channel's rate limit, retries by error class, an SMS outage behind a
 * circuit breaker, dead letters, and the daily digest (a beat entry, triggered once).
 * `npx tsx examples/notifications/main.ts`; with CELERIAC_BROKER_URL=nats://127.0.0.1:4222 the same
 * code uses NATS JetStream.
 */
import { isTaskError } from '../../src/index.ts';
import type { CircuitChange } from '../../plugins/circuit-breaker/index.ts';
import { type Channel, providers } from './providers.ts';
import { type Delivery, type DigestReport, type Dispatched, type Notice, RATES, URGENT, app, dailyDigest, digest, dispatchLog, notify, onCircuitChange } from './tasks.ts';

const say = (s: string) => process.stdout.write(s + '\n');
const pad = (s: string) => s.padEnd(20);

/** Dispatch a notice and wait for its dispatch. */
const send = async (notice: Notice): Promise<Dispatched> => (await notify(notice)).get({ timeout: '20s' });
/** The outcome of one delivery: `sent`, or the error that ended it. */
const outcome = async (taskId: string): Promise<{ ok: true; d: Delivery } | { ok: false; error: string }> => {
  try {
    return { ok: true, d: await app.asyncResult<Delivery>(taskId).get({ timeout: '20s' }) };
  } catch (err) {
    if (!isTaskError(err)) throw err;
    return { ok: false, error: `${err.remote.name}: ${err.remote.message}` };
  }
};
const settle = (d: Dispatched) => Promise.all(d.deliveries.map((x) => outcome(x.taskId)));
/** Every circuit change, with the SMS gateway's call count at that moment. */
const changes: Array<CircuitChange & { calls: number }> = [];
const waiting: Array<() => void> = [];
onCircuitChange((c) => {
  changes.push({ ...c, calls: providers.sms.calls });
  for (const wake of waiting.splice(0)) wake();
});
/** The `i`th circuit change (0 = the first), once it happened. */
const change = async (i: number) => {
  while (changes.length <= i) await new Promise<void>((resolve) => waiting.push(resolve));
  return changes[i] as CircuitChange & { calls: number };
};

// A clean slate when run twice against the same broker (also after an interrupted run, whose
// deferred deliveries may still wait in the delayed stream).
await app.deadLetters.purge();
const leftovers = await app.scheduled({ limit: 1000 });
if (leftovers.length > 0) await app.control.revoke(leftovers.map((t) => t.id));
for (const q of ['notices', 'notices--hi', 'notices--lo', 'email', 'sms', 'push']) await app.purge(q);

// One worker per channel (in production: `celeriac worker -A tasks.ts -Q sms`, and so on), so a
// slow channel never holds the slots of another.
const senders = (['email', 'sms', 'push'] as const).map((q) => app.worker({ queues: [q], concurrency: 4 }));
for (const w of senders) await w.start();

// 1. Priority: five normal notices wait in the queue, then an urgent one is sent. The dispatcher
//    (one slot) starts only now, and takes the urgent notice first.
const backlog: Notice[] = [
  { id: 'N-1', to: ['ada'], text: 'Your weekly report is ready', channels: ['email'] },
  { id: 'N-2', to: ['ada'], text: 'Grace starred your project', channels: ['email'], digest: true },
  { id: 'N-3', to: ['grace'], text: 'Your invoice for November', channels: ['email'] },
  { id: 'N-4', to: ['ada'], text: 'Linus commented on your post', channels: ['email'], digest: true },
  { id: 'N-5', to: ['grace'], text: 'Ada started following you', channels: ['email'], digest: true },
];
const queued = await Promise.all(backlog.map((n) => notify(n)));
const urgent = await notify({ id: 'U-1', to: ['ada'], text: 'New sign-in from an unknown device', channels: ['email', 'sms', 'push'], urgent: true });
const dispatcher = app.worker({ queues: ['notices'], concurrency: 1 });
await dispatcher.start();
const first = await urgent.get({ timeout: '20s' });
const rest = await Promise.all(queued.map((r) => r.get({ timeout: '20s' })));
say(`${pad('priority')}-> dispatched ${dispatchLog.map((id) => (id === 'U-1' ? `${id} (urgent, priority ${URGENT})` : id)).join(', ')}`);

// 2. Fan-out: the urgent notice went to every channel of its user.
const fanned = await settle(first);
say(`${pad('fan-out')}-> U-1 to ada: ${first.deliveries.map((x, i) => `${x.channel} ${fanned[i]?.ok ? 'sent' : 'failed'}`).join(', ')}`);
const normal = await Promise.all(rest.map(settle));
say(`${pad('backlog')}-> ${normal.flat().filter((o) => o.ok).length} e-mails sent, ${rest.filter((d) => d.digest).length} notices kept for the digest`);

// 3. Rate limit: one announcement to six devices; the push channel allows 5 a second.
const published = Date.now();
const announcement = await send({ id: 'A-1', to: ['ada', 'grace', 'linus', 'margaret', 'ken', 'barbara'], text: 'Maintenance tonight 22:00 UTC', channels: ['push'] });
const pushed = await settle(announcement);
const lastAt = Math.max(...pushed.map((o) => (o.ok ? (providers.push.sent.find((s) => s.messageId === o.d.messageId)?.at ?? 0) : 0)));
const interval = 1000 / Number(RATES.push.split('/')[0]);
const minimum = (pushed.length - 1) * interval;
// Each delivery takes the next free slot of the channel (one per 200 ms), so the last one cannot
// leave before five intervals have passed since the announcement was sent.
say(`${pad('rate limit')}-> push ${RATES.push}: ${pushed.filter((o) => o.ok).length} deliveries, the last ${lastAt - published >= minimum - 5 ? `${minimum / 1000} s or more` : 'TOO EARLY'} after the send`);

// 4. Retries by error class.
providers.email.busy.set('grace@example.com', 2); // mailbox full, twice
const [busy] = await settle(await send({ id: 'R-1', to: ['grace'], text: 'Your password was changed', channels: ['email'] }));
say(`${pad('transient error')}-> e-mail to grace ${busy?.ok ? `sent after ${busy.d.retries} retries (RecipientBusyError, back-off 0.1 s, 0.2 s)` : busy?.error}`);

const [invalid] = await settle(await send({ id: 'R-2', to: ['linus'], text: 'Your code is 481516', channels: ['sms'] }));
say(`${pad('permanent error')}-> sms to linus: ${invalid?.ok ? 'sent?' : invalid?.error} (${providers.sms.callsTo('555-0199')} call, not retried)`);

const kenCalls = providers.push.callsTo('tok-ken');
providers.push.busy.set('tok-ken', Infinity); // the device never comes back online
const [offline] = await settle(await send({ id: 'R-3', to: ['ken'], text: 'Your build finished', channels: ['push'] }));
say(`${pad('gave up')}-> push to ken: ${offline?.ok ? 'sent?' : offline?.error} (${providers.push.callsTo('tok-ken') - kenCalls} calls: 1 + 3 retries)`);

// 5. Circuit breaker: the SMS gateway goes down. Three failed calls open its circuit; while it is
//    open no SMS reaches the gateway; it half-opens after 2 s and one trial call closes it.
const smsCalls = providers.sms.calls;
providers.sms.down = true;
const outage = await send({ id: 'S-1', to: ['ada'], text: 'Your parcel arrives today', channels: ['sms'] });
const open = await change(0);
providers.sms.down = false; // the gateway recovers; its circuit does not know that yet
const during = await send({ id: 'S-2', to: ['grace'], text: 'Your table is booked', channels: ['sms'] });
const half = await change(1);
const shut = await change(2);
const afterwards = [...(await settle(outage)), ...(await settle(during))];
const sentAt = afterwards.map((o) => (o.ok ? (providers.sms.sent.find((x) => x.messageId === o.d.messageId)?.at ?? 0) : 0));
say(`${pad(`circuit ${open.key}`)}-> ${open.from} -> ${open.to} after ${open.calls - smsCalls} failed calls (503)`);
say(`${pad(`circuit ${half.key}`)}-> ${half.from} -> ${half.to} after ${((open.halfOpenAt ?? 0) - open.at) / 1000} s; calls while open: ${half.calls - open.calls}`);
say(`${pad(`circuit ${shut.key}`)}-> ${shut.from} -> ${shut.to}: the trial call went through`);
say(`${pad('sms after outage')}-> ${afterwards.filter((o) => o.ok).length} of 2 delivered, ${sentAt.filter((at) => at >= half.at).length} of them held back until the circuit half-opened`);

// 6. Dead letters: what could not be delivered, for a person (or a replay) to look at.
for (const d of await app.deadLetters.list()) say(`${pad('dead letter')}-> ${d.task} ${d.reason}: ${d.error?.message}`);

// 7. The daily digest: a beat entry (it fires at 08:00 UTC every day); here it is run once now,
//    through the same task the beat publishes.
const next = app.nextRun(dailyDigest.name);
say(`${pad('beat')}-> ${dailyDigest.name}: ${dailyDigest.task} cron '${dailyDigest.cron}' ${dailyDigest.timezone}, next run ${next?.toISOString()}`);
const report: DigestReport = await (await digest.applyAsync(dailyDigest.args as [])).get({ timeout: '20s' });
const mailed = await Promise.all(report.emails.map((e) => outcome(e.taskId)));
say(`${pad('digest')}-> ${mailed.filter((o) => o.ok).length} e-mails: ${report.emails.map((e) => `${e.user} (${e.notices} notice${e.notices === 1 ? '' : 's'})`).join(', ')}`);

const counts = (c: Channel) => `${c} ${providers[c].sent.length} sent/${providers[c].failed} failed`;
say(`${pad('providers')}-> ${(['email', 'sms', 'push'] as const).map(counts).join(', ')}`);

await dispatcher.stop();
for (const w of senders) await w.stop();
await app.close();
say('done');
