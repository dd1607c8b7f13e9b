/**
 * The execution history of a chaos run. Producer-side events (publish acked, faults) are kept in
 * the test process, which is never killed. Worker-side events are written by the chaos tasks
 * themselves, one JSON line per event, appended with `O_APPEND` to a file per process id in the
 * run's history directory: a small single `write(2)` with `O_APPEND` is atomic on a local file
 * system and survives a SIGKILL of the writer the instant it returns. A torn last line (killed
 * mid-write) is skipped by the reader.
 */
import { appendFileSync, mkdirSync, readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';

/** A worker-side event. */
export type WorkerEvent =
  /** The worker's main thread began executing the message (before a CPU task waits for its thread pool). */
  | { t: 'recv'; id: string; pid: number; seq: number; dc: number; at: number }
  /** The task body started: process, stream sequence and delivery count of the message. */
  | { t: 'start'; id: string; pid: number; seq: number; dc: number; at: number }
  /** The side effect was committed by this execution (for a keyed task: it won the put-if-absent). */
  | { t: 'effect'; id: string; pid: number; seq: number; dc: number; at: number }
  /** A keyed task found its effect already committed (a duplicate execution, harmlessly). */
  | { t: 'effect-exists'; id: string; pid: number; seq: number; dc: number; at: number }
  /** The task body returned. */
  | { t: 'end'; id: string; pid: number; seq: number; dc: number; at: number };

/** Append one event to this process's history file (atomic, unbuffered). */
export function record(dir: string, e: WorkerEvent): void {
  appendFileSync(join(dir, `${process.pid}.jsonl`), `${JSON.stringify(e)}\n`, { flag: 'a' });
}

/** Create the history directory (idempotent). */
export function ensureHistoryDir(dir: string): void {
  mkdirSync(dir, { recursive: true });
}

/** Every event of every process in `dir`, in file order (torn lines skipped). */
export function readHistory(dir: string): WorkerEvent[] {
  const out: WorkerEvent[] = [];
  for (const name of readdirSync(dir)) {
    if (!name.endsWith('.jsonl')) continue;
    for (const line of readFileSync(join(dir, name), 'utf8').split('\n')) {
      if (line === '') continue;
      try {
        out.push(JSON.parse(line) as WorkerEvent);
      } catch {
        /* a line torn by a SIGKILL mid-write */
      }
    }
  }
  return out;
}
