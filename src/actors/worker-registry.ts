import type { EventEmitter } from '../execution/event-emitter.ts';
import type { KeyValueStore } from '../transport/transport.ts';
import type { Logger } from '../util/logger.ts';
import type { ActorBehavior } from './kernel/index.ts';

/** What the registry (`<app>-workers`, key = worker name) holds for a worker node. */
export interface WorkerRecord {
  name: string;
  host: string;
  pid: number;
  queues: string[];
  concurrency: number;
  cpuThreads: number;
  /** Epoch ms. */
  startedAt: number;
  /** Epoch ms of the last heartbeat. */
  heartbeatAt: number;
  heartbeatMs: number;
  status: 'online' | 'offline';
  /** Tasks running now. */
  active: number;
  succeeded: number;
  failed: number;
  retried: number;
  events: boolean;
}

/** A registry entry as read by a client: `online` is false once 3 heartbeats were missed (or the node said goodbye). */
export type WorkerInfo = WorkerRecord & { online: boolean };

/** Missed heartbeats after which a node counts as offline. */
export const MISSED_HEARTBEATS = 3;

/** The registry key of a worker name (characters a subject cannot hold become `_`). */
export function workerKey(name: string): string {
  return name.replace(/[^A-Za-z0-9_@-]/g, '_');
}

/** Read a registry entry. */
export function workerInfo(r: WorkerRecord, now = Date.now()): WorkerInfo {
  return { ...r, online: r.status === 'online' && now - r.heartbeatAt <= MISSED_HEARTBEATS * r.heartbeatMs };
}

const enc = new TextEncoder();

/**
 * The node's entry in the worker registry, as an actor: written at start (`worker-online`), again
 * every heartbeat (`worker-heartbeat`, with counters), and marked offline at stop
 * (`worker-offline`). Heartbeat failures are logged; the next beat tries again.
 */
export function workerRegistryActor(s: { store: KeyValueStore; record: () => Omit<WorkerRecord, 'status' | 'heartbeatAt'>; events: EventEmitter; logger: Logger }): () => ActorBehavior<never> {
  return () => {
    let timer: NodeJS.Timeout | undefined;
    const write = async (status: WorkerRecord['status']) => {
      const r: WorkerRecord = { ...s.record(), status, heartbeatAt: Date.now() };
      await s.store.put(workerKey(r.name), enc.encode(JSON.stringify(r)));
      return r;
    };
    return {
      async start() {
        const r = await write('online');
        s.events.emit('worker-online', null, null, { host: r.host, pid: r.pid, queues: r.queues, concurrency: r.concurrency });
        timer = setInterval(() => {
          write('online').then(
            (rec) => s.events.emit('worker-heartbeat', null, null, { active: rec.active, succeeded: rec.succeeded, failed: rec.failed, retried: rec.retried, heartbeatMs: rec.heartbeatMs }),
            (err: unknown) => s.logger.warn('worker heartbeat not written', { error: err }),
          );
        }, s.record().heartbeatMs);
        timer.unref();
      },
      receive() {},
      async stop() {
        clearInterval(timer);
        s.events.emit('worker-offline');
        s.events.flush();
        await write('offline').catch(() => undefined);
      },
    };
  };
}
