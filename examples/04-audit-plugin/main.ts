/**
 * The audit-log plugin at work: `npx tsx examples/04-audit-plugin/main.ts` (embedded broker), or
 * with CELERIAC_BROKER_URL on NATS.
 */
import { createApp } from '../../src/index.ts';
import { type AuditEntry, auditLog } from './audit-log.ts';

const entries: AuditEntry[] = [];
const app = createApp({ name: 'audit-demo', broker: process.env.CELERIAC_BROKER_URL ?? 'memory://' });
app.use(auditLog({ actor: 'billing-service', sink: (e) => entries.push(e) }));

let calls = 0;
const invoice = app.task('billing.invoice', async (_ctx, customer: string) => {
  if (calls++ === 0) throw new Error('PDF renderer busy');
  return `invoice for ${customer}`;
}, { retry: { autoretryFor: [Error], maxRetries: 2, countdown: '100ms' } });

const worker = app.worker({ concurrency: 4 });
await worker.start();
const r = await invoice.delay('ACME');
console.log(`result -> ${await r.get({ timeout: '10s' })}`);
await new Promise((res) => setTimeout(res, 50));
// Sending and running race on one machine (the worker may start before the broker's ack is back): print in a fixed order.
const order = ['sent', 'failed', 'retried', 'ran'];
entries.sort((a, b) => order.indexOf(a.kind) - order.indexOf(b.kind));
for (const e of entries) console.log(`audit  -> ${e.kind} ${e.task} by ${e.actor}${e.error ? ` (${e.error})` : ''}`);
await worker.stop();
await app.close();
