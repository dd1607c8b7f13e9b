import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import {
  MAX_CATCH_UP_SLOTS,
  SKIP_GRACE_MS,
  type ResolvedSchedule,
  type ScheduleOptions,
  dueSlots,
  fireTime,
  nextSlot,
  resolveSchedule,
  slotTaskId,
} from '../../../src/actors/beat-schedule.ts';
import { isInvalidArgumentError } from '../../../src/errors.ts';
import { isValidTaskName } from '../../../src/protocol/names.ts';

/** Assert that `fn` throws an InvalidArgumentError whose message includes `text`. */
function assertInvalid(fn: () => unknown, text: string): void {
  assert.throws(fn, (err: unknown) => {
    assert.ok(isInvalidArgumentError(err), `expected an InvalidArgumentError, got ${String(err)}`);
    assert.ok(err.message.includes(text), `"${err.message}" includes ${text}`);
    return true;
  });
}

/** Resolve `o` (loosely typed, to pass bad values) with a valid task name unless `o` sets one. */
const resolve = (o: Record<string, unknown>, name = 'nightly') => () =>
  resolveSchedule(name, { task: 'reports.build', ...o } as ScheduleOptions);

/** The first slot from `from` (an every-1m slot) whose jitter is not 0. */
function jitteredSlot(s: ResolvedSchedule, from: number): number {
  for (let slot = from; slot < from + 100 * MIN; slot += MIN) if (fireTime(s, slot) > slot) return slot;
  assert.fail('no slot with jitter among 100');
}

const MIN = 60_000;
const HOUR = 60 * MIN;
const at = (iso: string) => Date.parse(iso);

describe('resolveSchedule', () => {
  test('defaults, every', () => {
    assert.deepEqual(resolveSchedule('tick', { task: 'ops.ping', every: '30s' }), {
      name: 'tick',
      task: 'ops.ping',
      args: [],
      kind: 'every',
      everyMs: 30_000,
      timezone: 'UTC',
      jitterMs: 0,
      catchUp: 'one',
    });
  });

  test('cron with every option set', () => {
    const args = [1, { a: 2 }];
    const s = resolveSchedule('nightly', {
      task: 'reports.build',
      args,
      cron: '0 9 * * *',
      timezone: 'Europe/Berlin',
      jitter: '2m',
      catchUp: 'all',
      queue: 'reports',
      priority: 7,
      expires: '1h',
    });
    assert.deepEqual(s, {
      name: 'nightly',
      task: 'reports.build',
      args,
      kind: 'cron',
      cron: '0 9 * * *',
      timezone: 'Europe/Berlin',
      jitterMs: 120_000,
      catchUp: 'all',
      queue: 'reports',
      priority: 7,
      expiresMs: HOUR,
    });
    assert.notEqual(s.args, args, 'args are copied');
  });

  test('both cron and every', () => assertInvalid(resolve({ cron: '* * * * *', every: '1m' }), 'schedule "nightly": options: give exactly one of cron and every'));
  test('neither cron nor every', () => assertInvalid(resolve({}), 'exactly one of cron and every'));
  test('bad cron pattern', () => {
    assertInvalid(resolve({ cron: '61 * * * *' }), 'schedule "nightly": options.cron "61 * * * *" is not a 5- or 6-field cron pattern');
    assertInvalid(resolve({ cron: 'every day' }), 'options.cron');
    assertInvalid(resolve({ cron: '0 0 0 1 1 * 2030' }), 'options.cron'); // 7 fields (years) are not accepted
    assertInvalid(resolve({ cron: 42 }), 'options.cron');
  });
  test('cron that never matches', () => assertInvalid(resolve({ cron: '0 0 30 2 *' }), 'options.cron "0 0 30 2 *" never matches'));
  test('bad timezone', () => {
    assertInvalid(resolve({ cron: '0 9 * * *', timezone: 'Mars/Olympus' }), 'schedule "nightly": options.timezone must be an IANA time zone');
    assertInvalid(resolve({ cron: '0 9 * * *', timezone: '' }), 'options.timezone');
  });
  test('timezone with every', () => assertInvalid(resolve({ every: '1h', timezone: 'Europe/Berlin' }), 'options.timezone applies to cron schedules only'));
  test('bad durations', () => {
    assertInvalid(resolve({ every: 'soon' }), 'schedule "nightly": options.every must be milliseconds');
    assertInvalid(resolve({ every: '1m', jitter: -1 }), 'options.jitter must be a non-negative number');
    assertInvalid(resolve({ every: '1m', expires: '1 week' }), 'options.expires must be milliseconds');
  });
  test('every below 1s or fractional', () => {
    assertInvalid(resolve({ every: '500ms' }), 'options.every must be a whole number of ms, at least 1000 ms');
    assertInvalid(resolve({ every: 1000.5 }), 'options.every must be a whole number of ms');
  });
  test('jitter not below every', () => assertInvalid(resolve({ every: '1m', jitter: '1m' }), 'options.jitter (60000 ms) must be below every (60000 ms)'));
  test('expires not positive', () => assertInvalid(resolve({ every: '1m', expires: 0 }), 'options.expires must be positive'));
  test('bad catchUp', () => assertInvalid(resolve({ every: '1m', catchUp: 'some' }), `options.catchUp must be 'skip', 'one' or 'all', got "some"`));
  test('bad task name', () => {
    assertInvalid(resolve({ every: '1m', task: 'reports build' }), 'schedule "nightly": options.task must be 1-200 characters');
    assertInvalid(resolve({ every: '1m', task: undefined }), 'options.task');
  });
  test('bad schedule name', () => {
    assertInvalid(resolve({ every: '1m' }, 'no spaces'), 'schedule name must be 1-128 characters of [A-Za-z0-9_.:-]');
    assertInvalid(resolve({ every: '1m' }, ''), 'schedule name');
    assertInvalid(resolve({ every: '1m' }, 'x'.repeat(129)), 'schedule name');
    assert.equal(resolve({ every: '1m' }, 'x'.repeat(128))().name.length, 128);
  });
  test('bad args', () => assertInvalid(resolve({ every: '1m', args: 'x' }), 'options.args must be an array'));
  test('bad queue', () => assertInvalid(resolve({ every: '1m', queue: 'a.b' }), 'options.queue must be 1-64 characters'));
  test('bad priority', () => assertInvalid(resolve({ every: '1m', priority: 10 }), 'options.priority must be an integer 0-9'));
  test('options not an object', () => assertInvalid(() => resolveSchedule('n', null as unknown as ScheduleOptions), 'schedule "n": options must be an object'));
});

describe('nextSlot', () => {
  test('every: slots are multiples of the period since the epoch, whatever the start time', () => {
    const s = resolveSchedule('tick', { task: 't', every: '30s' });
    assert.equal(nextSlot(s, 1_000_000_007), 1_000_020_000);
    assert.equal(nextSlot(s, 1_000_020_000), 1_000_050_000, 'strictly after a slot');
    assert.equal(nextSlot(s, 1_000_019_999), 1_000_020_000);
    // Two processes started at different times walk the same slots.
    const walk = (from: number, n: number) => {
      const out: number[] = [];
      for (let t = nextSlot(s, from); out.length < n; t = nextSlot(s, t)) out.push(t);
      return out;
    };
    assert.deepEqual(walk(1_000_000_007, 4).slice(1), walk(1_000_021_234, 3));
    for (const t of walk(123_456_789, 5)) assert.equal(t % 30_000, 0);
  });

  test('cron: 5 and 6 fields, strictly after', () => {
    const five = resolveSchedule('c5', { task: 't', cron: '*/5 * * * *' });
    assert.equal(nextSlot(five, at('2024-01-01T00:05:00.000Z')), at('2024-01-01T00:10:00.000Z'));
    assert.equal(nextSlot(five, at('2024-01-01T00:04:59.500Z')), at('2024-01-01T00:05:00.000Z'));
    assert.equal(nextSlot(five, at('2024-01-01T00:05:00.300Z')), at('2024-01-01T00:10:00.000Z'));
    const six = resolveSchedule('c6', { task: 't', cron: '*/10 * * * * *' });
    assert.equal(nextSlot(six, at('2024-01-01T00:00:05Z')), at('2024-01-01T00:00:10Z'));
  });

  test('cron: the pattern is read in the timezone', () => {
    const utc = resolveSchedule('utc', { task: 't', cron: '0 9 * * *' });
    const berlin = resolveSchedule('berlin', { task: 't', cron: '0 9 * * *', timezone: 'Europe/Berlin' });
    assert.equal(nextSlot(utc, at('2024-01-15T00:00:00Z')), at('2024-01-15T09:00:00Z'));
    assert.equal(nextSlot(berlin, at('2024-01-15T00:00:00Z')), at('2024-01-15T08:00:00Z')); // CET, UTC+1
    assert.equal(nextSlot(berlin, at('2024-07-15T00:00:00Z')), at('2024-07-15T07:00:00Z')); // CEST, UTC+2
    assert.equal(nextSlot(berlin, at('2024-01-15T08:00:00Z')), at('2024-01-16T08:00:00Z'));
  });
});

describe('dueSlots', () => {
  // every 10 minutes; the last fired slot is T0; the scheduler was away until T0 + 35 min.
  const T0 = at('2024-03-01T12:00:00Z');
  const every10 = (catchUp: ScheduleOptions['catchUp']) => resolveSchedule('ten', { task: 't', every: '10m', catchUp });

  test("'one' fires only the most recent missed slot, however late", () => {
    assert.deepEqual(dueSlots(every10('one'), T0, T0 + 35 * MIN), [T0 + 30 * MIN]);
  });

  test("'all' fires every missed slot, oldest first", () => {
    assert.deepEqual(dueSlots(every10('all'), T0, T0 + 35 * MIN), [T0 + 10 * MIN, T0 + 20 * MIN, T0 + 30 * MIN]);
  });

  test("'skip' fires the most recent slot only within the grace window", () => {
    const s = every10('skip');
    assert.deepEqual(dueSlots(s, T0, T0 + 35 * MIN), [], 'missed by 5 min: skipped');
    assert.deepEqual(dueSlots(s, T0, T0 + 30 * MIN + 10_000), [T0 + 30 * MIN], 'late by a tick: fired');
    assert.deepEqual(dueSlots(s, T0, T0 + 30 * MIN + SKIP_GRACE_MS), [T0 + 30 * MIN], 'grace is inclusive');
    assert.deepEqual(dueSlots(s, T0, T0 + 30 * MIN + SKIP_GRACE_MS + 1), []);
  });

  test('cron in a timezone, after a three-day outage', () => {
    const s = (catchUp: ScheduleOptions['catchUp']) =>
      resolveSchedule('daily', { task: 't', cron: '0 9 * * *', timezone: 'Europe/Berlin', catchUp });
    const last = at('2024-01-10T08:00:00Z');
    const now = at('2024-01-13T12:00:00Z');
    assert.deepEqual(dueSlots(s('one'), last, now), [at('2024-01-13T08:00:00Z')]);
    assert.deepEqual(dueSlots(s('all'), last, now), ['2024-01-11', '2024-01-12', '2024-01-13'].map((d) => at(`${d}T08:00:00Z`)));
    assert.deepEqual(dueSlots(s('skip'), last, now), []);
    assert.deepEqual(dueSlots(s('skip'), last, at('2024-01-13T08:00:30Z')), [at('2024-01-13T08:00:00Z')]);
  });

  test('nothing is due before the next slot, or when the clock is behind the last slot', () => {
    for (const p of ['skip', 'one', 'all'] as const) {
      assert.deepEqual(dueSlots(every10(p), T0, T0 + 9 * MIN), []);
      assert.deepEqual(dueSlots(every10(p), T0 + 10 * MIN, T0 + 10 * MIN), [], 'the slot at now was fired already');
      assert.deepEqual(dueSlots(every10(p), T0, T0 - MIN), []);
    }
  });

  test("'all' returns at most MAX_CATCH_UP_SLOTS, oldest first, and continues from the last one", () => {
    const s = resolveSchedule('fast', { task: 't', every: '1s', catchUp: 'all' });
    const first = dueSlots(s, 0, HOUR);
    assert.equal(first.length, MAX_CATCH_UP_SLOTS);
    assert.equal(first[0], 1000);
    assert.equal(first.at(-1), MAX_CATCH_UP_SLOTS * 1000);
    const second = dueSlots(s, first.at(-1) ?? 0, HOUR);
    assert.equal(second[0], (MAX_CATCH_UP_SLOTS + 1) * 1000);
  });

  test('never run: nothing in the past fires; the baseline is now', () => {
    for (const p of ['skip', 'one', 'all'] as const) {
      const s = every10(p);
      assert.deepEqual(dueSlots(s, null, T0 + 35 * MIN), [], p);
      // The caller records now as the baseline: the next slot after it fires on time.
      assert.deepEqual(dueSlots(s, T0 + 35 * MIN, T0 + 40 * MIN), [T0 + 40 * MIN], p);
      assert.deepEqual(dueSlots(s, null, T0 + 30 * MIN), [T0 + 30 * MIN], `${p}: now is exactly a slot`);
    }
  });

  test('never run, now exactly a slot that has jitter: not fired (it is at the baseline)', () => {
    const s = resolveSchedule('jit', { task: 't', every: '1m', jitter: '30s' });
    const slot = jitteredSlot(s, T0);
    assert.deepEqual(dueSlots(s, null, slot), []);
  });

  test('a slot is due at its fire time, not before', () => {
    const s = resolveSchedule('jit', { task: 't', every: '1m', jitter: '30s', catchUp: 'all' });
    const slot = jitteredSlot(s, T0 + MIN);
    const fire = fireTime(s, slot);
    assert.deepEqual(dueSlots(s, slot - MIN, fire - 1), []);
    assert.deepEqual(dueSlots(s, slot - MIN, fire), [slot]);
  });
});

describe('fireTime', () => {
  test('jitter is deterministic per schedule and slot, and within [0, jitter]', () => {
    const o: ScheduleOptions = { task: 't', every: '1m', jitter: '20s' };
    const a = resolveSchedule('a', o);
    const a2 = resolveSchedule('a', o);
    const b = resolveSchedule('b', o);
    const offsets = new Set<number>();
    let sameAsB = 0;
    for (let i = 0; i < 200; i++) {
      const slot = at('2024-01-01T00:00:00Z') + i * MIN;
      const j = fireTime(a, slot) - slot;
      assert.ok(j >= 0 && j <= 20_000, `jitter ${j} within bounds`);
      assert.equal(fireTime(a2, slot), fireTime(a, slot), 'same in every process');
      if (fireTime(b, slot) === fireTime(a, slot)) sameAsB++;
      offsets.add(j);
    }
    assert.ok(offsets.size > 150, `jitter varies between slots (${offsets.size} distinct of 200)`);
    assert.ok(sameAsB < 5, 'schedules with different names get different jitter');
  });

  test('no jitter: fires at the slot', () => {
    const s = resolveSchedule('n', { task: 't', every: '1m' });
    assert.equal(fireTime(s, 5 * MIN), 5 * MIN);
  });

  test('cron jitter is cut to end before the next slot', () => {
    const s = resolveSchedule('sec', { task: 't', cron: '* * * * * *', jitter: '10s' });
    const slot = at('2024-01-01T00:00:00Z');
    let jittered = 0;
    for (let i = 0; i < 50; i++) {
      const f = fireTime(s, slot + i * 1000);
      assert.ok(f >= slot + i * 1000 && f < slot + (i + 1) * 1000);
      if (f > slot + i * 1000) jittered++;
    }
    assert.ok(jittered > 40);
  });
});

describe('slotTaskId', () => {
  test('beat:<name>:<slotMs>, in the task-id charset and length', () => {
    assert.equal(slotTaskId('nightly.report', 1_700_000_000_000), 'beat:nightly.report:1700000000000');
    const longest = slotTaskId('x'.repeat(128), Number.MAX_SAFE_INTEGER);
    assert.ok(isValidTaskName(longest), longest);
    assert.ok(isValidTaskName(slotTaskId('a-b_c:d.e', 0)));
  });

  test('rejects a bad name or slot', () => {
    assertInvalid(() => slotTaskId('a b', 0), 'schedule name');
    assertInvalid(() => slotTaskId('a', -1), 'slotMs');
    assertInvalid(() => slotTaskId('a', 1.5), 'slotMs');
  });
});
