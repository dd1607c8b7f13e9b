/**
 * Periodic task schedules ("beat"), the pure part: options, slot arithmetic, catch-up and jitter.
 * No I/O and no clock: every function takes the times it needs, so every process that evaluates
 * the same schedule computes the same slots, fire times and task ids.
 *
 * A *slot* is an instant (epoch ms) the schedule names: a cron match, or a multiple of `every`
 * since the epoch. A slot *fires* at {@link fireTime} (the slot plus its jitter), and is *due* at
 * `nowMs` when it lies after the last fired slot and its fire time is at or before `nowMs`.
 * @module
 */
import { Cron } from 'croner';
import { InvalidArgumentError } from '../errors.ts';
import { isValidTaskName, validateTaskName, validateToken } from '../protocol/names.ts';
import { type Duration, parseDuration } from '../util/duration.ts';

/** What the scheduler does with slots that fell due while no scheduler ran. */
export type CatchUpPolicy = 'skip' | 'one' | 'all';

/** Options of one periodic schedule. Exactly one of `cron` and `every` is required. */
export interface ScheduleOptions {
  /** Name of the task to publish (`[A-Za-z0-9_.:-]`, 1–200 chars). */
  task: string;
  /** Arguments the task is called with. @defaultValue `[]` */
  args?: unknown[];
  /** Cron pattern, 5 fields (`'*\/5 * * * *'`) or 6 with seconds first; read by croner. */
  cron?: string;
  /** Fixed period (at least 1 s); slots are multiples of it since the epoch. */
  every?: Duration;
  /** IANA time zone the `cron` pattern is read in; only with `cron`. @defaultValue `'UTC'` */
  timezone?: string;
  /**
   * Fire each slot up to this long after it, by a fixed amount per slot (a hash of schedule name and
   * slot), so many schedules on the same pattern do not all publish at once. Below `every`; with
   * `cron` it is cut to end before the next slot. @defaultValue `0`
   */
  jitter?: Duration;
  /** Slots that fell due while no scheduler ran, see {@link CatchUpPolicy}. @defaultValue `'one'` */
  catchUp?: CatchUpPolicy;
  /** Queue to publish to. @defaultValue the task's queue */
  queue?: string;
  /** Priority 0–9 of the published task. @defaultValue the publish default */
  priority?: number;
  /** The published task expires this long after it fires (must be positive). @defaultValue never */
  expires?: Duration;
}

/** A validated schedule, durations in ms. */
export interface ResolvedSchedule {
  name: string;
  task: string;
  args: unknown[];
  kind: 'cron' | 'every';
  /** The pattern, when `kind` is `'cron'`. */
  cron?: string | undefined;
  /** The period, when `kind` is `'every'`. */
  everyMs?: number | undefined;
  /** `'UTC'` for `every` schedules. */
  timezone: string;
  jitterMs: number;
  catchUp: CatchUpPolicy;
  queue?: string | undefined;
  priority?: number | undefined;
  expiresMs?: number | undefined;
}

/** Defaults of the optional {@link ScheduleOptions}. */
export const DEFAULT_SCHEDULE_OPTIONS = Object.freeze({
  args: Object.freeze([]) as readonly unknown[],
  timezone: 'UTC',
  jitterMs: 0,
  catchUp: 'one' as CatchUpPolicy,
});

/** Longest schedule name: its slot task id `beat:<name>:<slotMs>` must fit the 200-char task-id limit. */
export const MAX_SCHEDULE_NAME_LENGTH = 128;
/** Shortest `every` period (cron patterns have whole-second resolution too). */
export const MIN_EVERY_MS = 1000;
/** Most slots one {@link dueSlots} call returns under `catchUp: 'all'`. */
export const MAX_CATCH_UP_SLOTS = 1000;
/** Under `catchUp: 'skip'`, a slot whose fire time is more than this before now counts as missed. */
export const SKIP_GRACE_MS = 60_000;

const CATCH_UP: readonly CatchUpPolicy[] = ['skip', 'one', 'all'];

/**
 * Validate a schedule.
 * @param name 1–128 chars of `[A-Za-z0-9_.:-]`; unique among the app's schedules.
 * @throws InvalidArgumentError naming the option, as `schedule "<name>": options.<x> ...`.
 * @example
 * resolveSchedule('cleanup', { task: 'files.cleanup', cron: '0 3 * * *', timezone: 'Europe/Berlin' });
 * resolveSchedule('heartbeat', { task: 'ops.ping', every: '30s', jitter: '5s', catchUp: 'skip' });
 */
export function resolveSchedule(name: string, o: ScheduleOptions): ResolvedSchedule {
  validateScheduleName(name);
  const what = `schedule "${name}": options`;
  if (typeof o !== 'object' || o === null) throw new InvalidArgumentError(`${what} must be an object`);
  const task = validateTaskName(o.task, `${what}.task`);
  if (o.args !== undefined && !Array.isArray(o.args)) throw new InvalidArgumentError(`${what}.args must be an array`);
  if ((o.cron === undefined) === (o.every === undefined)) {
    throw new InvalidArgumentError(`${what}: give exactly one of cron and every`);
  }
  const catchUp = o.catchUp ?? DEFAULT_SCHEDULE_OPTIONS.catchUp;
  if (!CATCH_UP.includes(catchUp)) {
    throw new InvalidArgumentError(`${what}.catchUp must be 'skip', 'one' or 'all', got ${JSON.stringify(o.catchUp)}`);
  }
  const jitterMs = Math.floor(parseDuration(o.jitter ?? 0, `${what}.jitter`));
  const s: ResolvedSchedule = {
    name,
    task,
    args: [...(o.args ?? DEFAULT_SCHEDULE_OPTIONS.args)],
    kind: o.cron !== undefined ? 'cron' : 'every',
    timezone: DEFAULT_SCHEDULE_OPTIONS.timezone,
    jitterMs,
    catchUp,
  };
  if (o.cron !== undefined) {
    s.timezone = resolveTimezone(o.timezone, what);
    s.cron = o.cron;
    const c = cronFor(s, what);
    if (c.nextRun(new Date(0)) === null) throw new InvalidArgumentError(`${what}.cron ${JSON.stringify(o.cron)} never matches`);
  } else {
    if (o.timezone !== undefined) throw new InvalidArgumentError(`${what}.timezone applies to cron schedules only (every is UTC-aligned)`);
    const everyMs = parseDuration(o.every as Duration, `${what}.every`);
    if (!Number.isInteger(everyMs) || everyMs < MIN_EVERY_MS) {
      throw new InvalidArgumentError(`${what}.every must be a whole number of ms, at least ${MIN_EVERY_MS} ms (1s), got ${everyMs}`);
    }
    if (jitterMs >= everyMs) throw new InvalidArgumentError(`${what}.jitter (${jitterMs} ms) must be below every (${everyMs} ms)`);
    s.everyMs = everyMs;
  }
  if (o.queue !== undefined) s.queue = validateToken(o.queue, `${what}.queue`);
  if (o.priority !== undefined) {
    if (!(Number.isInteger(o.priority) && o.priority >= 0 && o.priority <= 9)) {
      throw new InvalidArgumentError(`${what}.priority must be an integer 0-9, got ${JSON.stringify(o.priority)}`);
    }
    s.priority = o.priority;
  }
  if (o.expires !== undefined) {
    const expiresMs = parseDuration(o.expires, `${what}.expires`);
    if (expiresMs <= 0) throw new InvalidArgumentError(`${what}.expires must be positive`);
    s.expiresMs = expiresMs;
  }
  return s;
}

function validateScheduleName(name: unknown): asserts name is string {
  if (typeof name !== 'string' || name.length > MAX_SCHEDULE_NAME_LENGTH || !isValidTaskName(name)) {
    throw new InvalidArgumentError(
      `schedule name must be 1-${MAX_SCHEDULE_NAME_LENGTH} characters of [A-Za-z0-9_.:-], got ${JSON.stringify(name)}`,
    );
  }
}

function resolveTimezone(tz: unknown, what: string): string {
  if (tz === undefined) return DEFAULT_SCHEDULE_OPTIONS.timezone;
  try {
    if (typeof tz !== 'string' || tz === '') throw new RangeError('not a non-empty string');
    new Intl.DateTimeFormat('en-US', { timeZone: tz });
    return tz;
  } catch (err) {
    throw new InvalidArgumentError(`${what}.timezone must be an IANA time zone like 'Europe/Berlin', got ${JSON.stringify(tz)}`, {
      cause: err,
    });
  }
}

// One croner instance per resolved schedule (croner without a callback schedules nothing).
const crons = new WeakMap<ResolvedSchedule, Cron>();

function cronFor(s: ResolvedSchedule, what = `schedule "${s.name}": options`): Cron {
  let c = crons.get(s);
  if (c === undefined) {
    if (typeof s.cron !== 'string') throw new InvalidArgumentError(`${what}.cron must be a cron pattern string`);
    try {
      c = new Cron(s.cron, { timezone: s.timezone, mode: '5-or-6-parts' });
    } catch (err) {
      const detail = err instanceof Error ? err.message : String(err);
      throw new InvalidArgumentError(`${what}.cron ${JSON.stringify(s.cron)} is not a 5- or 6-field cron pattern: ${detail}`, {
        cause: err,
      });
    }
    crons.set(s, c);
  }
  return c;
}

/**
 * The first slot strictly after `afterMs` (epoch ms). `every` slots are aligned to multiples of
 * `everyMs` since the epoch, so every process computes the same slots; cron slots are whole seconds.
 * @returns `Infinity` when a cron pattern has no later match.
 */
export function nextSlot(s: ResolvedSchedule, afterMs: number): number {
  if (s.kind === 'every') {
    const p = s.everyMs as number;
    return Math.floor(afterMs / p) * p + p;
  }
  return cronFor(s).nextRun(new Date(afterMs))?.getTime() ?? Infinity;
}

/** The last slot at or before `atMs`, or null if there is none. */
function slotAtOrBefore(s: ResolvedSchedule, atMs: number): number | null {
  if (s.kind === 'every') {
    const p = s.everyMs as number;
    return Math.floor(atMs / p) * p;
  }
  // croner's previousRuns is strictly before its reference.
  return cronFor(s).previousRuns(1, new Date(atMs + 1))[0]?.getTime() ?? null;
}

/**
 * When a slot fires: `slotMs` plus a jitter in `[0, jitterMs]` fixed by a hash of the schedule name
 * and the slot, cut so it stays before the next slot (so fire times keep the order of their slots).
 */
export function fireTime(s: ResolvedSchedule, slotMs: number): number {
  if (s.jitterMs <= 0) return slotMs;
  const gap = nextSlot(s, slotMs) - slotMs;
  const j = Math.floor((hash32(`${s.name}\n${slotMs}`) / 0x1_0000_0000) * (s.jitterMs + 1));
  return slotMs + Math.max(0, Math.min(j, gap - 1));
}

/** FNV-1a with murmur3's finaliser, so nearby slots get unrelated jitters. */
function hash32(str: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < str.length; i++) {
    h ^= str.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

/**
 * Slots to fire now, oldest first. A slot is *due* when it is after `lastSlotMs` and its
 * {@link fireTime} is at or before `nowMs`; let `latest` be the most recent due slot. Then:
 *
 * - `'one'`: `[latest]`, however late it is (older missed slots are dropped);
 * - `'skip'`: `[latest]` if its fire time is at most {@link SKIP_GRACE_MS} (60 s) before `nowMs`,
 *   else `[]`: a slot is fired only on time (a scheduler tick or a leader hand-over late), never
 *   after an outage. For periods up to a minute this equals `'one'`;
 * - `'all'`: every due slot, at most {@link MAX_CATCH_UP_SLOTS} (the oldest ones); record the last
 *   one fired and call again for the rest.
 *
 * `lastSlotMs` null means the schedule never fired: it is read as `nowMs - 1`, so nothing in the
 * past fires, only a slot at exactly `nowMs` whose jitter is 0. When that returns `[]`, record
 * `nowMs` as the baseline: the first slot fired is then the first one after `nowMs`.
 *
 * `lastSlotMs` need not be a slot (a baseline is not); at or after `nowMs` nothing is due.
 */
export function dueSlots(s: ResolvedSchedule, lastSlotMs: number | null, nowMs: number): number[] {
  const after = lastSlotMs ?? nowMs - 1;
  if (!(after < nowMs)) return [];
  let latest = slotAtOrBefore(s, nowMs);
  // Jitter keeps a fire time before the next slot, so if `latest` has not fired yet the one before has.
  if (latest !== null && fireTime(s, latest) > nowMs) latest = slotAtOrBefore(s, latest - 1);
  if (latest === null || latest <= after) return [];
  switch (s.catchUp) {
    case 'one':
      return [latest];
    case 'skip':
      return nowMs - fireTime(s, latest) <= SKIP_GRACE_MS ? [latest] : [];
    case 'all': {
      const out: number[] = [];
      for (let t = nextSlot(s, after); t <= latest && out.length < MAX_CATCH_UP_SLOTS; t = nextSlot(s, t)) out.push(t);
      return out;
    }
  }
}

/**
 * Id of the task published for a slot, `beat:<name>:<slotMs>`: the broker's dedupe id
 * (`Nats-Msg-Id`) and the task id at once, so two schedulers firing the same slot publish it once.
 * Schedule names use the task-id charset, so the id needs no escaping.
 * @throws InvalidArgumentError for a bad name or a slot that is not a non-negative integer.
 */
export function slotTaskId(name: string, slotMs: number): string {
  if (!Number.isSafeInteger(slotMs) || slotMs < 0) {
    throw new InvalidArgumentError(`slotMs must be a non-negative integer (epoch ms), got ${slotMs}`);
  }
  validateScheduleName(name);
  // At most 5 + 128 + 1 + 16 characters: within the task-id limit, no escaping needed.
  return `beat:${name}:${slotMs}`;
}
