/** Worker metrics with the OpenTelemetry SDK's in-memory exporter, after a known workload. */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { test } from 'node:test';
import { metrics } from '@opentelemetry/api';
import { AggregationTemporality, type DataPoint, type Histogram, InMemoryMetricExporter, MeterProvider, PeriodicExportingMetricReader } from '@opentelemetry/sdk-metrics';
import { createApp } from '../../../src/index.ts';
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
  const w = app.worker({ concurrency: 4, logger: silentLogger });
  await w.start();
  try {
    await Promise.all([ok.delay(20), ok.delay(20), ok.delay(20)].map(async (p) => (await p).get({ timeout: '5s' })));
    await (await bad.delay()).get({ timeout: '5s' }).catch(() => undefined);
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
  await app.close();
});
