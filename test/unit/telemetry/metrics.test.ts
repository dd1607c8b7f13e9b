/** Worker metrics with the OpenTelemetry SDK's in-memory exporter, after a known workload. */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { test } from 'node:test';
import { metrics } from '@opentelemetry/api';
import { AggregationTemporality, type DataPoint, type Histogram, InMemoryMetricExporter, MeterProvider, PeriodicExportingMetricReader } from '@opentelemetry/sdk-metrics';
import { Defer, Retry, createApp, recordCircuitState } from '../../../src/index.ts';
import { silentLogger } from '../../../src/testing.ts';

test('tasks by state, execution time, slots in use and the dead-letter gauge', async () => {
  const exporter = new InMemoryMetricExporter(AggregationTemporality.CUMULATIVE);
  const reader = new PeriodicExportingMetricReader({ exporter, exportIntervalMillis: 60_000 });
  metrics.setGlobalMeterProvider(new MeterProvider({ readers: [reader] }));
  const app = createApp({ name: `met-${randomUUID().slice(0, 6)}`, broker: `memory://met-${randomUUID()}` });
  const ok = app.task('met.ok', async (_c, ms: number) => {
    await new Promise((r) => setTimeout(r, ms));
    return ms;
  });
  const bad = app.task('met.bad', async () => {
    throw new Error('no');
  });
  const seen = new Map<string, number>();
  const again = app.task('met.again', async (ctx, how: 'retry' | 'defer') => {
    const n = (seen.get(ctx.id) ?? 0) + 1;
    seen.set(ctx.id, n);
    if (n === 1) throw how === 'retry' ? new Retry({ countdownMs: 10 }) : new Defer(10, 'test');
    return n;
  });
  const w = app.worker({ concurrency: 2, logger: silentLogger });
  await w.start();
  try {
    // 2 slots, 3 tasks of 20 ms: the third waits in the queue for about 20 ms.
    await Promise.all([ok.delay(20), ok.delay(20), ok.delay(20)].map(async (p) => (await p).get({ timeout: '5s' })));
    await (await bad.delay()).get({ timeout: '5s' }).catch(() => undefined);
    assert.equal(await (await again.delay('retry')).get({ timeout: '5s' }), 2);
    assert.equal(await (await again.delay('defer')).get({ timeout: '5s' }), 2);
    recordCircuitState('met-provider', 'open');
    await reader.forceFlush(); // while the worker runs: its gauges are observed at collection
  } finally {
    await w.stop();
  }
  const all = exporter.getMetrics().flatMap((rm) => rm.scopeMetrics.flatMap((sm) => sm.metrics));
  const metric = (name: string) => {
    const list = all.filter((m) => m.descriptor.name === name);
    assert.ok(list.length > 0, `metric ${name} exported`);
    return list[list.length - 1] as (typeof all)[number];
  };
  const tasks = metric('celeriac.tasks').dataPoints as Array<DataPoint<number>>;
  const count = (task: string, state: string) => tasks.find((d) => d.attributes['celeriac.task.name'] === task && d.attributes['celeriac.task.state'] === state)?.value;
  assert.equal(count('met.ok', 'SUCCESS'), 3);
  assert.equal(count('met.bad', 'FAILURE'), 1);
  const durations = metric('celeriac.task.duration').dataPoints as Array<DataPoint<Histogram>>;
  const okDur = durations.find((d) => d.attributes['celeriac.task.name'] === 'met.ok')?.value;
  assert.equal(okDur?.count, 3);
  assert.ok((okDur?.min ?? 0) >= 15, `execution time recorded in ms (min ${okDur?.min})`);
  const slots = metric('celeriac.slots.in_use').dataPoints as Array<DataPoint<number>>;
  assert.deepEqual(
    slots.map((d) => d.attributes['celeriac.slot.kind']).sort(),
    ['cpu', 'io'],
  );
  assert.ok(metric('celeriac.dead_letters'));
  // Retries and deferrals (rate limit, open circuit) are states of celeriac.tasks.
  assert.equal(count('met.again', 'RETRY'), 1);
  assert.equal(count('met.again', 'DEFERRED'), 1);
  const waits = metric('celeriac.task.queue_wait').dataPoints as Array<DataPoint<Histogram>>;
  const okWait = waits.find((d) => d.attributes['celeriac.task.name'] === 'met.ok' && d.attributes['messaging.destination.name'] === 'default')?.value;
  assert.equal(okWait?.count, 3, 'one queue wait per first execution');
  assert.ok((okWait?.max ?? 0) >= 10, `the third task waited for a slot (max ${okWait?.max} ms)`);
  const depth = metric('celeriac.queue.depth').dataPoints as Array<DataPoint<number>>;
  assert.deepEqual(depth.map((d) => [d.attributes['messaging.destination.name'], d.value]), [['default', 0]]);
  assert.ok(metric('celeriac.queue.in_flight'));
  const circuit = metric('celeriac.circuit.state').dataPoints as Array<DataPoint<number>>;
  assert.equal(circuit.find((d) => d.attributes['celeriac.circuit.key'] === 'met-provider')?.value, 2);
  await app.close();
});
