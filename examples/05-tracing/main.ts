/**
 * One trace from an HTTP request to a chained task: `npx tsx examples/05-tracing/main.ts` (embedded
 * broker), or with CELERIAC_BROKER_URL=nats://127.0.0.1:4222 on NATS JetStream. It registers an
 * OpenTelemetry tracer provider that keeps spans in memory, starts a worker (CPU tasks in threads)
 * and the Express API, sends one order over HTTP, waits for the chain, and prints the spans as a
 * tree. README.md sends the same trace to Jaeger (or any OTLP collector) instead.
 */
import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import { createLogger } from '../../src/index.ts';
import { type FinishedSpan, collectSpans, formatTrace } from './print-trace.ts';
import { ordersApi } from './server.ts';
import { app } from './tasks.ts';

const say = (s: string) => process.stdout.write(s + '\n');
const collector = collectSpans();
// This process prints the trace itself: its CPU threads (which copy this environment) must post
// their spans here, not to a collector that OTEL_* variables may name (thread-tracing.ts).
process.env.OTEL_SDK_DISABLED = 'true';

const worker = app.worker({
  concurrency: 8,
  cpuThreads: 1,
  tasksModule: new URL('./tasks.ts', import.meta.url).href,
  logger: createLogger({ level: 'warn' }),
});
await worker.start();
const server = ordersApi().listen(0, '127.0.0.1');
await once(server, 'listening');
const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
say(`worker and API started on ${app.options.broker}`);

const order = { customer: 'Ada', lines: [{ sku: 'tea', qty: 2, cents: 450 }, { sku: 'scone', qty: 3, cents: 275 }] };
const posted = await fetch(`${base}/orders`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(order) });
const { id } = (await posted.json()) as { id: string };
say(`POST /orders     -> ${posted.status} ${id}`);

await app.asyncResult(id).get({ timeout: '30s' });
const status = (await (await fetch(`${base}/orders/${id}`)).json()) as { state: string; result: string };
say(`GET /orders/:id  -> ${status.state}: ${status.result}`);

// A `process` span ends after its result is stored, and the thread's span comes over a channel:
// wait for the last ones before printing.
const complete = (spans: FinishedSpan[]) =>
  ['process orders.notify', 'checksum order'].every((name) => spans.some((s) => s.name === name));
const arrived = await collector.waitFor(complete, 10_000);
say(formatTrace(collector.spans()));

server.close();
await worker.stop();
await app.close();
collector.close();
if (!arrived) {
  process.stderr.write('not every span arrived within 10 s\n');
  process.exitCode = 1;
}
say('done');
