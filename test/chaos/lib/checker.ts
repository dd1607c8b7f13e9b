/**
 * The checker: classifies every task of a chaos run from its history (Jepsen-style, after the
 * fact). A task is
 * - `unknown` when its publish was never acknowledged (the producer cannot know it exists);
 * - `lost` when its publish was acknowledged but its expected outcome never happened (no effect
 *   committed, or for a poison task no dead letter);
 * - `duplicate-effect` when its side effect was committed more than once;
 * - `duplicate-execution` when its body started more than once (allowed: at-least-once);
 * - `ok` otherwise.
 * A run passes with 0 lost and 0 duplicate effects among keyed tasks (unkeyed tasks may repeat their
 * effect after a crash: that is what at-least-once means, and it is counted, not failed).
 */
import type { WorkerEvent } from './history.ts';

/** What the producer knows of a task. */
export interface PublishedTask {
  id: string;
  /** Published with an idempotency key: its effect must happen at most once. */
  keyed: boolean;
  /** The broker acknowledged the publish (PubAck). */
  acked: boolean;
  /** What must eventually happen: its effect is committed, or it lands in the dead-letter stream. */
  expect: 'effect' | 'dead-letter';
}

/** Verdict of one task. */
export type Verdict = 'ok' | 'lost' | 'duplicate-effect' | 'duplicate-execution' | 'unknown';

/** The checker's input: producer records, worker events, the effect store, dead-lettered task ids. */
export interface CheckInput {
  tasks: readonly PublishedTask[];
  events: readonly WorkerEvent[];
  /** Committed effects per task id, read from the effect store itself (not from what workers said). */
  effects: ReadonlyMap<string, number>;
  deadLetters: ReadonlySet<string>;
}

/** The checker's output. */
export interface CheckReport {
  tasks: number;
  counts: Record<Verdict, number>;
  /** Tasks executed more than once (any verdict). */
  dupExec: number;
  /** Keyed tasks whose effect was committed more than once: must be 0. */
  dupEffectKeyed: number;
  /** Unkeyed tasks whose effect was committed more than once (allowed, reported). */
  dupEffectUnkeyed: number;
  /** Up to 20 ids per failing verdict, for the report. */
  examples: { lost: string[]; duplicateEffect: string[] };
  /** Events naming a task the producer never published (a harness bug or a corrupted message). */
  strays: number;
  /** 0 lost, 0 duplicate effects among keyed tasks, no strays. */
  pass: boolean;
}

/** Classify every task of a run. */
export function check(input: CheckInput): CheckReport {
  const starts = new Map<string, number>();
  const effects = input.effects;
  const known = new Set(input.tasks.map((t) => t.id));
  let strays = 0;
  for (const e of input.events) {
    if (!known.has(e.id)) {
      strays++;
      continue;
    }
    if (e.t === 'start') starts.set(e.id, (starts.get(e.id) ?? 0) + 1);
  }
  for (const id of effects.keys()) if (!known.has(id)) strays++;
  const counts: Record<Verdict, number> = { ok: 0, lost: 0, 'duplicate-effect': 0, 'duplicate-execution': 0, unknown: 0 };
  const examples = { lost: [] as string[], duplicateEffect: [] as string[] };
  let dupExec = 0;
  let dupEffectKeyed = 0;
  let dupEffectUnkeyed = 0;
  for (const t of input.tasks) {
    const s = starts.get(t.id) ?? 0;
    const f = effects.get(t.id) ?? 0;
    if (s > 1) dupExec++;
    if (f > 1) {
      if (t.keyed) dupEffectKeyed++;
      else dupEffectUnkeyed++;
    }
    let v: Verdict;
    if (!t.acked) v = 'unknown';
    else if (t.expect === 'effect' ? f === 0 && !input.deadLetters.has(t.id) : !input.deadLetters.has(t.id)) v = 'lost';
    else if (f > 1) v = 'duplicate-effect';
    else if (s > 1) v = 'duplicate-execution';
    else v = 'ok';
    counts[v]++;
    if (v === 'lost' && examples.lost.length < 20) examples.lost.push(t.id);
    if (v === 'duplicate-effect' && t.keyed && examples.duplicateEffect.length < 20) examples.duplicateEffect.push(t.id);
  }
  return {
    tasks: input.tasks.length,
    counts,
    dupExec,
    dupEffectKeyed,
    dupEffectUnkeyed,
    examples,
    strays,
    pass: counts.lost === 0 && dupEffectKeyed === 0 && strays === 0,
  };
}

/** An acknowledgement seen on the broker (`$JS.ACK...`), with its delivery count. */
export interface AckEvent {
  seq: number;
  dc: number;
  kind: 'ack' | 'nak' | 'wpi' | 'term' | 'other';
  at: number;
}

/** A fault the harness injected into a worker process. */
export interface KillEvent {
  pid: number;
  at: number;
}

/** How the tasks in flight at each kill recovered. */
export interface RecoveryReport {
  kills: number;
  /** Tasks the killed process had received or started and whose message was not yet acked. */
  inFlight: number;
  /** Of those, the slowest time from the kill to the ack of its message (ms). */
  maxRecoveryMs: number;
  /** In-flight tasks never acked afterwards. */
  unrecovered: number;
  /** In-flight tasks acked later than `limitMs` after the kill. */
  late: number;
}

/**
 * For every kill, the tasks in flight on the killed process (received or started there, message
 * not acked before the kill) and when their message was acked afterwards (by the redelivery). A
 * task run again by a process that a later kill took down before the ack is timed from this kill
 * to that restart: the later kill is charged with the rest.
 */
export function recovery(kills: readonly KillEvent[], events: readonly WorkerEvent[], acks: readonly AckEvent[], limitMs: number): RecoveryReport {
  const acksBySeq = new Map<number, number[]>();
  for (const a of acks) {
    if (a.kind !== 'ack' && a.kind !== 'term') continue;
    const l = acksBySeq.get(a.seq) ?? [];
    l.push(a.at);
    acksBySeq.set(a.seq, l);
  }
  // Every run of a message a process took on: received on its main thread, or started.
  const runsByPid = new Map<number, Array<{ seq: number; at: number }>>();
  const runsBySeq = new Map<number, Array<{ pid: number; at: number }>>();
  for (const e of events) {
    if (e.t !== 'start' && e.t !== 'recv') continue;
    const l = runsByPid.get(e.pid) ?? [];
    l.push({ seq: e.seq, at: e.at });
    runsByPid.set(e.pid, l);
    const bySeq = runsBySeq.get(e.seq) ?? [];
    bySeq.push({ pid: e.pid, at: e.at });
    runsBySeq.set(e.seq, bySeq);
  }
  const killsByPid = new Map<number, number[]>();
  for (const k of kills) killsByPid.set(k.pid, [...(killsByPid.get(k.pid) ?? []), k.at]);
  // Run again (received, or started) by a process that a later kill then took down before the ack:
  // that kill accounts for the rest of the wait, so this one ends at the restart. A run only
  // received (a CPU task waiting for a new worker's thread pool) counts: the kill lost it too.
  const handedOver = (seq: number, killAt: number, ackAt: number): number | undefined => {
    let first: number | undefined;
    for (const s of runsBySeq.get(seq) ?? []) {
      if (s.at <= killAt || s.at >= ackAt) continue;
      if (!(killsByPid.get(s.pid) ?? []).some((k) => k >= s.at && k < ackAt)) continue;
      if (first === undefined || s.at < first) first = s.at;
    }
    return first;
  };
  let inFlight = 0;
  let maxRecoveryMs = 0;
  let unrecovered = 0;
  let late = 0;
  for (const k of kills) {
    const seen = new Set<number>();
    for (const s of runsByPid.get(k.pid) ?? []) {
      if (s.at > k.at || seen.has(s.seq)) continue;
      seen.add(s.seq);
      const ackTimes = acksBySeq.get(s.seq) ?? [];
      if (ackTimes.some((t) => t <= k.at)) continue;
      inFlight++;
      const after = ackTimes.filter((t) => t > k.at);
      if (after.length === 0) {
        unrecovered++;
        continue;
      }
      const ackAt = Math.min(...after);
      const ms = (handedOver(s.seq, k.at, ackAt) ?? ackAt) - k.at;
      maxRecoveryMs = Math.max(maxRecoveryMs, ms);
      if (ms > limitMs) late++;
    }
  }
  return { kills: kills.length, inFlight, maxRecoveryMs, unrecovered, late };
}
