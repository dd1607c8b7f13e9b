import type { Logger } from '../util/logger.ts';
import type { ActorBehavior, ActorContext } from './kernel/index.ts';

/** What the autoscaler reads and changes. */
export interface AutoscaleTarget {
  /** Async slots: size now and in use. */
  io(): { size: number; used: number };
  /** CPU threads: size now, tasks running and waiting for a thread; null without a CPU pool. */
  cpu(): { size: number; busy: number; queued: number } | null;
  /** Messages waiting in the node's queues (from the broker). */
  backlog(): Promise<number>;
  resizePool(pool: 'io' | 'cpu', delta: number): Promise<number>;
}

/** Settings of {@link autoscalerActor}. */
export interface AutoscaleSettings {
  target: AutoscaleTarget;
  /** Async slots between `min` and `max`. */
  io: { min: number; max: number };
  /** CPU threads between `min` and `max`. */
  cpu: { min: number; max: number };
  /** How often the backlog is looked at. @defaultValue 1000 */
  everyMs?: number;
  /** A pool shrinks only after it was under-used this long. @defaultValue 30_000 (Celery's keepalive) */
  keepaliveMs?: number;
  logger: Logger;
}

/** The next size of a pool: grow at once towards the demand, shrink only after `idleForMs ≥ keepalive`. */
export function nextSize(size: number, demand: number, min: number, max: number, idleForMs: number, keepaliveMs: number): number {
  const want = Math.min(max, Math.max(min, demand));
  if (want > size) return Math.min(want, size * 2); // at most double per step
  if (want < size && idleForMs >= keepaliveMs) return Math.max(want, Math.ceil(size / 2)); // at most halve per step
  return size;
}

/**
 * `--autoscale max,min`: every second, the demand of the async slots is the tasks in use plus the
 * messages waiting in the node's queues, and that of the CPU threads the CPU tasks running plus those
 * waiting for a thread. A pool grows at once (at most doubling a step) and shrinks (at most halving)
 * after it was under-used for the keepalive. Shrinking never interrupts a task.
 */
export function autoscalerActor(s: AutoscaleSettings): () => ActorBehavior<never> {
  return () => {
    let timer: NodeJS.Timeout | undefined;
    let busy = false;
    const lastFull = { io: Date.now(), cpu: Date.now() };
    return {
      start(ctx: ActorContext<never>) {
        const target = s.target;
        const tick = async () => {
          if (busy) return;
          busy = true;
          try {
            const now = Date.now();
            const io = target.io();
            const backlog = await target.backlog();
            const ioDemand = io.used + backlog;
            if (ioDemand >= io.size) lastFull.io = now;
            const ioNext = nextSize(io.size, ioDemand, s.io.min, s.io.max, now - lastFull.io, s.keepaliveMs ?? 30_000);
            if (ioNext !== io.size) {
              await target.resizePool('io', ioNext - io.size);
              s.logger.info('autoscale: async slots', { from: io.size, to: ioNext, backlog });
              if (ioNext < io.size) lastFull.io = now;
            }
            const cpu = target.cpu();
            if (cpu) {
              const cpuDemand = cpu.busy + cpu.queued;
              if (cpuDemand >= cpu.size) lastFull.cpu = now;
              const cpuNext = nextSize(cpu.size, cpuDemand, s.cpu.min, s.cpu.max, now - lastFull.cpu, s.keepaliveMs ?? 30_000);
              if (cpuNext !== cpu.size) {
                await target.resizePool('cpu', cpuNext - cpu.size);
                s.logger.info('autoscale: CPU threads', { from: cpu.size, to: cpuNext, waiting: cpu.queued });
                if (cpuNext < cpu.size) lastFull.cpu = now;
              }
            }
          } catch (err) {
            // The broker may be unreachable for a moment: keep the sizes, look again next tick.
            if (!ctx.signal.aborted) s.logger.debug('autoscale: tick failed', { error: err });
          } finally {
            busy = false;
          }
        };
        timer = setInterval(() => void tick(), s.everyMs ?? 1000);
        timer.unref();
      },
      receive() {},
      stop() {
        clearInterval(timer);
      },
    };
  };
}
