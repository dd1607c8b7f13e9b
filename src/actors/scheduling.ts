import type { ResultBackend } from '../results/result-backend.ts';
import { Lease } from '../results/lease.ts';
import { isTerminalState } from '../results/states.ts';
import type { KeyValueStore, Transport } from '../transport/transport.ts';
import type { Logger } from '../util/logger.ts';
import { BeatRunner } from './beat-runner.ts';
import type { ResolvedSchedule } from './beat-schedule.ts';
import type { ActorBehavior } from './kernel/index.ts';
import { Scheduler } from './scheduler.ts';

/** What scheduling needs from its app (a worker node's app, or `celeriac beat`'s). */
export interface SchedulingApp {
  transport(): Transport;
  resultBackend(): Promise<ResultBackend>;
  leaseStore(): Promise<KeyValueStore>;
  schedules(): ResolvedSchedule[];
  beatStore(): Promise<KeyValueStore>;
  fireSchedule(s: ResolvedSchedule, slotMs: number): Promise<void>;
}

/** The scheduler of delayed tasks and, when the app has schedules, the beat runner. */
export interface Scheduling {
  readonly scheduler: Scheduler;
  readonly beat: BeatRunner | undefined;
  start(): Promise<void>;
  stop(): Promise<void>;
}

/**
 * Build the scheduler (lease `scheduler`) and, for an app with schedules, the beat runner (lease
 * `beat`) — the same in a worker node and in `celeriac beat`. `holder` names this process in the
 * leases; `leaseMs` is their TTL.
 */
export async function createScheduling(app: SchedulingApp, o: { holder: string; leaseMs: number; logger: Logger }): Promise<Scheduling> {
  const leases = await app.leaseStore();
  const backend = await app.resultBackend();
  const schedules = app.schedules();
  const beat =
    schedules.length > 0
      ? new BeatRunner({
          schedules,
          state: await app.beatStore(),
          fire: (s, slot) => app.fireSchedule(s, slot),
          logger: o.logger,
          lease: new Lease(leases, 'beat', o.holder, o.leaseMs),
        })
      : undefined;
  const scheduler = new Scheduler({
    transport: app.transport(),
    lease: new Lease(leases, 'scheduler', o.holder, o.leaseMs),
    logger: o.logger,
    isDone: async (id) => {
      const r = await backend.get(id);
      return r !== null && isTerminalState(r.status);
    },
  });
  return {
    scheduler,
    beat,
    async start() {
      await scheduler.start();
      await beat?.start();
    },
    async stop() {
      await beat?.stop();
      await scheduler.stop();
    },
  };
}

/**
 * Scheduling as a worker node's `scheduler` actor: built and started with the actor (again after a
 * crash), stopped with it; `built` receives each new scheduler before it starts (for its stats).
 */
export function schedulingActor(
  app: SchedulingApp,
  o: { holder: string; leaseMs: number; logger: Logger },
  built: (scheduler: Scheduler) => void,
): () => ActorBehavior<never> {
  return () => {
    let scheduling: Scheduling | undefined;
    return {
      start: async () => {
        scheduling = await createScheduling(app, o);
        built(scheduling.scheduler);
        await scheduling.start();
      },
      receive() {},
      stop: async () => {
        await scheduling?.stop();
      },
    };
  };
}
