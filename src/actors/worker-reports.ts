/**
 * What a worker node reports about itself to remote control (`inspect scheduled`, `inspect
 * active-queues`): the reply shapes, defined once for the node and for `app.control.inspect()`.
 * @module
 */
import type { Transport } from '../transport/transport.ts';
import type { SchedulerStats } from './scheduler.ts';

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
