/**
 * The checker itself, on synthetic histories: it must flag what it exists to flag (a lost task, a
 * keyed task whose effect happened twice, an unacked publish) and pass a clean history.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { check, recovery } from './lib/checker.ts';
import type { PublishedTask } from './lib/checker.ts';
import type { WorkerEvent } from './lib/history.ts';
import { rng } from './lib/prng.ts';

const task = (id: string, o: Partial<PublishedTask> = {}): PublishedTask => ({ id, keyed: true, acked: true, expect: 'effect', ...o });
const start = (id: string, pid = 1, seq = 1, dc = 1, at = 0): WorkerEvent => ({ t: 'start', id, pid, seq, dc, at });

test('a clean history passes: every task ok', () => {
  const r = check({ tasks: [task('a'), task('b')], events: [start('a'), start('b', 1, 2)], effects: new Map([['a', 1], ['b', 1]]), deadLetters: new Set() });
  assert.equal(r.pass, true);
  assert.equal(r.counts.ok, 2);
  assert.equal(r.dupExec, 0);
});

test('an acked task with no effect and no dead letter is lost, and fails the run', () => {
  const r = check({ tasks: [task('a'), task('b')], events: [start('a')], effects: new Map([['a', 1]]), deadLetters: new Set() });
  assert.equal(r.pass, false);
  assert.equal(r.counts.lost, 1);
  assert.deepEqual(r.examples.lost, ['b']);
});

test('a started-but-never-committed task is lost too (started is not done)', () => {
  const r = check({ tasks: [task('a')], events: [start('a')], effects: new Map(), deadLetters: new Set() });
  assert.equal(r.counts.lost, 1);
  assert.equal(r.pass, false);
});

test('a keyed task whose effect was committed twice fails the run; an unkeyed one is counted, not failed', () => {
  const keyed = check({ tasks: [task('a')], events: [start('a'), start('a', 2, 1, 2)], effects: new Map([['a', 2]]), deadLetters: new Set() });
  assert.equal(keyed.pass, false);
  assert.equal(keyed.dupEffectKeyed, 1);
  assert.equal(keyed.counts['duplicate-effect'], 1);
  assert.deepEqual(keyed.examples.duplicateEffect, ['a']);
  const unkeyed = check({ tasks: [task('a', { keyed: false })], events: [start('a'), start('a', 2, 1, 2)], effects: new Map([['a', 2]]), deadLetters: new Set() });
  assert.equal(unkeyed.pass, true);
  assert.equal(unkeyed.dupEffectUnkeyed, 1);
});

test('two executions with one effect are a duplicate execution, which at-least-once allows', () => {
  const r = check({ tasks: [task('a')], events: [start('a'), start('a', 2, 1, 2)], effects: new Map([['a', 1]]), deadLetters: new Set() });
  assert.equal(r.pass, true);
  assert.equal(r.counts['duplicate-execution'], 1);
  assert.equal(r.dupExec, 1);
});

test('a poison task must be in the dead-letter stream; one that is not is lost', () => {
  const tasks = [task('p1', { expect: 'dead-letter' }), task('p2', { expect: 'dead-letter' })];
  const r = check({ tasks, events: [start('p1'), start('p2')], effects: new Map(), deadLetters: new Set(['p1']) });
  assert.equal(r.counts.lost, 1);
  assert.deepEqual(r.examples.lost, ['p2']);
});

test('an unacked publish is unknown, never lost; effects of unpublished ids are strays', () => {
  const r = check({ tasks: [task('a', { acked: false })], events: [start('zzz')], effects: new Map([['yyy', 1]]), deadLetters: new Set() });
  assert.equal(r.counts.unknown, 1);
  assert.equal(r.counts.lost, 0);
  assert.equal(r.strays, 2);
  assert.equal(r.pass, false);
});

test('recovery: in-flight tasks of a killed pid are timed to their next ack; late and missing ones are flagged', () => {
  const events = [start('a', 7, 10, 1, 100), start('b', 7, 11, 1, 150), start('c', 7, 12, 1, 160), start('d', 7, 13, 1, 50), start('e', 8, 14, 1, 100)];
  const acks = [
    { seq: 13, dc: 1, kind: 'ack' as const, at: 90 }, // d finished before the kill
    { seq: 10, dc: 2, kind: 'ack' as const, at: 2200 }, // a: 2000 ms after the kill
    { seq: 11, dc: 2, kind: 'ack' as const, at: 9000 }, // b: late
  ];
  const r = recovery([{ pid: 7, at: 200 }], events, acks, 5000);
  assert.equal(r.inFlight, 3); // a, b, c (d was acked, e ran elsewhere)
  assert.equal(r.late, 1);
  assert.equal(r.unrecovered, 1);
  assert.equal(r.maxRecoveryMs, 8800);
});

test('recovery: a task run again on a process that the next kill takes down is charged to that kill from its restart', () => {
  // a: in flight on pid 7 at the kill (200); redelivered to pid 8 at 3200, which is killed at 3300;
  // redelivered again and acked at 6300. Each kill saw it recover within one AckWait (3000 ms).
  const events = [start('a', 7, 10, 1, 100), start('a', 8, 10, 2, 3200)];
  const acks = [{ seq: 10, dc: 3, kind: 'ack' as const, at: 6300 }];
  const r = recovery(
    [
      { pid: 7, at: 200 },
      { pid: 8, at: 3300 },
    ],
    events,
    acks,
    5000,
  );
  assert.equal(r.inFlight, 2);
  assert.equal(r.late, 0);
  assert.equal(r.maxRecoveryMs, 3000); // 200 -> 3200, then 3300 -> 6300
  // The same history with no second kill: the 6100 ms wait is this kill's, and late.
  const alone = recovery([{ pid: 7, at: 200 }], events, acks, 5000);
  assert.equal(alone.late, 1);
  assert.equal(alone.maxRecoveryMs, 6100);
});

test('recovery: a redelivery received by a process killed before the body started is charged to that kill', () => {
  // a: in flight on pid 7 at the kill (200); redelivered to pid 8, received at 3200 (a CPU task
  // waiting for the new worker's thread pool), pid 8 killed at 3300 before the body started;
  // redelivered again and acked at 6300.
  const events = [start('a', 7, 10, 1, 100), { ...start('a', 8, 10, 2, 3200), t: 'recv' as const }];
  const acks = [{ seq: 10, dc: 3, kind: 'ack' as const, at: 6300 }];
  const kills = [
    { pid: 7, at: 200 },
    { pid: 8, at: 3300 },
  ];
  const r = recovery(kills, events, acks, 5000);
  assert.equal(r.inFlight, 2); // received on pid 8 is in flight at its kill
  assert.equal(r.late, 0);
  assert.equal(r.maxRecoveryMs, 3000);
  // Without the received run in the history, the 6100 ms wait is the first kill's, and late.
  const unseen = recovery(kills, [start('a', 7, 10, 1, 100)], acks, 5000);
  assert.equal(unseen.late, 1);
});

test('the seeded PRNG repeats its schedule for a seed', () => {
  const a = rng(42);
  const b = rng(42);
  const xs = Array.from({ length: 5 }, () => a.int(0, 1000));
  assert.deepEqual(Array.from({ length: 5 }, () => b.int(0, 1000)), xs);
  assert.notDeepEqual(Array.from({ length: 5 }, () => rng(43).int(0, 1000)), xs);
});
