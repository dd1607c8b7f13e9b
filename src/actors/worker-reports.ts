/**
 * What a worker node reports about itself to remote control (`inspect scheduled`, `inspect
 * active-queues`, `inspect stats`): the reply shapes, defined once for the node and for
 * `app.control.inspect()`.
 * @module
 */
import { hostname, loadavg } from 'node:os';
import type { CpuPoolStats } from '../execution/cpu-pool.ts';
import type { ExecutorStats } from '../execution/executor.ts';
import type { Transport } from '../transport/transport.ts';
import type { SchedulerStats } from './scheduler.ts';
import type { ResolvedWorkerOptions } from './worker-options.ts';

/** What `inspect scheduled` reports: the leader lists the soonest delayed tasks; others none. */
export interface ScheduledReport {
  leading: boolean;
  pending: number;
  entries: Array<{ id: string; queue: string; eta: string }>;
}

/** A consumed queue as `inspect active-queues` reports it. */
export interface ActiveQueue {
  queue: string;
  bands: string[] | null;
  ackWaitMs: number;
  maxDeliver: number;
  paused: boolean;
}

/** The delayed tasks as a node's scheduler sees them (none unless it leads). */
export async function scheduledReport(stats: SchedulerStats | undefined, transport: Transport, limit: number): Promise<ScheduledReport> {
  if (!stats?.leading) return { leading: false, pending: 0, entries: [] };
  const entries = await (await transport.delayed()).list(limit);
  return {
    leading: true,
    pending: stats.pending,
    entries: entries.map((e) => ({ id: e.taskId, queue: e.queue, eta: new Date(e.eta).toISOString() })),
  };
}

/** The queues a node consumes, with their delivery settings and whether they are paused now. */
export function activeQueuesReport(queues: readonly string[], transport: Transport, pausedUntil: (queue: string) => number): ActiveQueue[] {
  const now = Date.now();
  return queues.map((queue) => {
    const st = transport.queueSettings(queue);
    return {
      queue,
      bands: st.priorities ? [`${queue}--hi`, queue, `${queue}--lo`] : null,
      ackWaitMs: st.ackWaitMs,
      maxDeliver: st.maxDeliver,
      paused: pausedUntil(queue) > now,
    };
  });
}

/** What `inspect stats` is made of: the node's state and counters at the time of the request. */
export interface WorkerStatsView {
  options: Pick<ResolvedWorkerOptions, 'name' | 'maxTasksPerThread' | 'maxMemoryPerThreadMb' | 'autoscale'>;
  state: string;
  /** Epoch ms the node started taking tasks; 0 before. */
  startedAt: number;
  queues: readonly string[];
  /** The async slots: their number and those taken. */
  slots: { readonly capacity: number; readonly used: number };
  /** Tasks running now (each holds a slot). */
  running: number;
  /** The CPU pool's counters; undefined when the node has none (yet). */
  cpu: CpuPoolStats | undefined;
  tasks: ExecutorStats & { slotsUsed: number };
  timeLimits: Record<string, { softMs: number | null; hardMs?: number | null }>;
  events: boolean;
  /** Message signing's refusal counters; null when signing is off. */
  security: { readonly rejected: Readonly<Record<string, number>> } | null;
  scheduler: SchedulerStats | undefined;
}

/** The node at a glance (`celeriac inspect stats`). */
export function workerStatsReport(v: WorkerStatsView): Record<string, unknown> {
  const mem = process.memoryUsage();
  const cpu = v.cpu;
  return {
    name: v.options.name,
    host: hostname(),
    pid: process.pid,
    state: v.state,
    uptimeMs: v.startedAt ? Date.now() - v.startedAt : 0,
    queues: [...v.queues],
    pool: {
      // running: tasks holding a slot; held: slots taken, including those reserved by open fetches.
      io: { size: v.slots.capacity, running: v.running, held: v.slots.used },
      cpu: cpu
        ? {
            size: cpu.threads,
            started: cpu.started,
            busy: cpu.busy,
            queued: cpu.queued,
            recycled: cpu.recycled,
            maxTasksPerThread: v.options.maxTasksPerThread || null,
            maxMemoryPerThreadMb: v.options.maxMemoryPerThreadMb || null,
          }
        : null,
      autoscale: v.options.autoscale,
    },
    prefetchBound: v.slots.capacity,
    tasks: v.tasks,
    timeLimits: v.timeLimits,
    events: v.events,
    // Messages refused by the signature checks, by reason (ADR 0010); null when signing is off.
    security: v.security ? { rejected: { ...v.security.rejected } } : null,
    scheduler: v.scheduler ?? null,
    rssBytes: mem.rss,
    heapUsedBytes: mem.heapUsed,
    loadAverage: loadavg(),
  };
}
