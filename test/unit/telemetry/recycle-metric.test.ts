/**
 * A worker started with maxTasksPerThread recycles its CPU threads (ADR 0012): every task succeeds,
 * they run on several threads, the node's stats and the celeriac.cpu.threads_recycled counter
 * count the recycles.
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { test } from 'node:test';
import { metrics } from '@opentelemetry/api';
import { AggregationTemporality, type DataPoint, InMemoryMetricExporter, MeterProvider, PeriodicExportingMetricReader } from '@opentelemetry/sdk-metrics';
import { silentLogger } from '../../../src/testing.ts';

test('a worker with maxTasksPerThread: 3 runs 12 CPU tasks on >= 4 threads and counts the recycles', async () => {
  const exporter = new InMemoryMetricExporter(AggregationTemporality.CUMULATIVE);
  const reader = new PeriodicExportingMetricReader({ exporter, exportIntervalMillis: 60_000 });
  metrics.setGlobalMeterProvider(new MeterProvider({ readers: [reader] }));
  process.env.RECYCLE_APP = `rec-${randomUUID().slice(0, 8)}`;
  process.env.CELERIAC_BROKER_URL = `memory://rec-${randomUUID()}`;
  const { app, where } = await import('../../fixtures/recycle-tasks.ts');
  const tasksModule = new URL('../../fixtures/recycle-tasks.ts', import.meta.url).href;
  const w = app.worker({ concurrency: 4, cpuThreads: 1, tasksModule, maxTasksPerThread: 3, logger: silentLogger });
  await w.start();
  try {
    const results = [];
    for (let i = 0; i < 12; i++) results.push(await (await where.delay(i)).get({ timeout: '30s' }));
    assert.deepEqual(results.map((r) => r.n), Array.from({ length: 12 }, (_, i) => i));
    const threads = new Set(results.map((r) => r.threadId));
    assert.ok(threads.size >= 4, `ran on ${threads.size} threads: ${[...threads].join(',')}`);
    const cpu = (w.statsReport().pool as { cpu: { recycled: number; maxTasksPerThread: number | null } }).cpu;
    assert.equal(cpu.maxTasksPerThread, 3);
    assert.ok(cpu.recycled >= 3, `recycled ${cpu.recycled}`);
    await reader.forceFlush();
    const all = exporter.getMetrics().flatMap((rm) => rm.scopeMetrics.flatMap((sm) => sm.metrics));
    const m = all.filter((x) => x.descriptor.name === 'celeriac.cpu.threads_recycled').at(-1);
    assert.ok(m, 'celeriac.cpu.threads_recycled exported');
    assert.ok(((m.dataPoints as Array<DataPoint<number>>)[0]?.value ?? 0) >= 3);
  } finally {
    await w.stop();
    await app.close();
  }
});
