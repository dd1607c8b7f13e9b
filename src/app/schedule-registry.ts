/**
 * The periodic tasks ("beat") registered in an app: their resolved schedules, when each fires
 * next, and the call options that publish the task of one slot.
 * @module
 */
import { type ResolvedSchedule, type ScheduleOptions, fireTime, nextSlot, resolveSchedule, slotTaskId } from '../actors/beat-schedule.ts';
import { InvalidArgumentError } from '../errors.ts';
import type { ApplyOptions } from './task-options.ts';

/** The schedules of an app (`app.schedule()`, `app.schedules()`, `app.nextRun()`). */
export class ScheduleRegistry {
  readonly #schedules = new Map<string, ResolvedSchedule>();

  /**
   * Resolve and register a schedule.
   * @throws InvalidArgumentError for a bad option or a duplicate name.
   */
  add(name: string, options: ScheduleOptions): ResolvedSchedule {
    const s = resolveSchedule(name, options);
    if (this.#schedules.has(name)) throw new InvalidArgumentError(`app.schedule("${name}"): a schedule with this name is already registered`);
    this.#schedules.set(name, s);
    return s;
  }

  /** Registered schedules, in registration order. */
  list(): ResolvedSchedule[] {
    return [...this.#schedules.values()];
  }

  /**
   * When the schedule `name` fires next after `after`, with its jitter; null for a cron pattern
   * that never matches again.
   * @throws InvalidArgumentError when no schedule has that name.
   */
  nextRun(name: string, after: Date): Date | null {
    const s = this.#schedules.get(name);
    if (!s) throw new InvalidArgumentError(`app.nextRun("${name}"): no schedule has this name (registered: ${[...this.#schedules.keys()].join(', ') || 'none'})`);
    const slot = nextSlot(s, after.getTime());
    return Number.isFinite(slot) ? new Date(fireTime(s, slot)) : null;
  }
}

/** The call options that publish the task of a schedule's slot (task id = dedupe id = the slot's id). */
export function slotApplyOptions(s: ResolvedSchedule, slotMs: number): ApplyOptions {
  return {
    taskId: slotTaskId(s.name, slotMs),
    ...(s.queue ? { queue: s.queue } : {}),
    ...(s.priority !== undefined ? { priority: s.priority } : {}),
    ...(s.expiresMs !== undefined ? { expires: s.expiresMs } : {}),
    headers: { 'beat-schedule': s.name, 'beat-slot': new Date(slotMs).toISOString() },
  };
}
