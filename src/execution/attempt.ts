/**
 * One execution attempt in flight, as data: what the executor's continuation needs once the task's
 * body settles. It replaces the async frame that held a running task (ADR 0016): with 10,000 tasks
 * sleeping in their slots, that frame, its promises and their reactions cost ~1 KB of heap each.
 * @module
 */
import type { Context, Span } from '@opentelemetry/api';
import type { ExecutionSignals, RunOutcomeState, TaskEvent } from '../middleware/types.ts';
import type { CpuPool } from './cpu-pool.ts';
import type { TaskDefinition, TaskOutcome } from './task-definition.ts';
import type { TaskRun } from './task-run.ts';

/** How an attempt ended, for its span (`RETURNED`: handed back at shutdown). */
export type RunState = RunOutcomeState | 'RETURNED';

/** Where the outcome of a task's body goes: the first outcome (or failure) counts, later ones are ignored. */
export interface OutcomeSink {
  /** The body's outcome, or a kill's (hard time limit, revoke with terminate). */
  deliver(outcome: TaskOutcome): void;
  /** Infrastructure trouble while waiting for the outcome (a CPU pool that failed): the message is handed back. */
  fail(err: unknown): void;
}

/** Told when an attempt run through the admission's slow path has ended. */
export interface AttemptWaiter {
  resolve(): void;
  reject(err: unknown): void;
}

/** What the executor does with an attempt's outcome (one function per executor, shared by every attempt). */
export type AttemptContinuation = (attempt: Attempt, outcome: TaskOutcome) => void;
/** What the executor does when an attempt hit infrastructure trouble. */
export type AttemptFailure = (attempt: Attempt, err: unknown) => void;

/** One execution attempt: the run (`ctx`), how it was started, and its state until it ends. */
export class Attempt implements OutcomeSink {
  /** For the span: how it ended. */
  state: RunState = 'RETURNED';
  /** For the span: the task's error (`FAILURE`) or the infrastructure trouble. */
  error: unknown = undefined;
  /** Set by infrastructure trouble: the message is handed back instead of released. */
  failed = false;
  /** Set once it has ended (its clean-up ran and its caller was told). */
  ended = false;
  softTimer: NodeJS.Timeout | undefined = undefined;
  hardTimer: NodeJS.Timeout | undefined = undefined;
  /** The CPU pool (or quarantine thread) it runs in; undefined on this thread. */
  pool: Pick<CpuPool, 'run'> | undefined = undefined;
  signals: ExecutionSignals | null = null;
  event: TaskEvent | null = null;
  #outcome = false;

  constructor(
    readonly run: TaskRun,
    readonly def: TaskDefinition,
    readonly quarantine: boolean,
    readonly span: Span,
    /** The span's context to continue in (null when no SDK is registered). */
    readonly ctx: Context | null,
    /** `performance.now()` at the start, when metrics are on (else 0). */
    readonly startedMs: number,
    /** The admission's slow path waits for the end here; null: the executor releases the message itself. */
    readonly waiter: AttemptWaiter | null,
    /** Called once the message is settled (released or handed back), if given. */
    readonly done: (() => void) | undefined,
    private readonly onOutcome: AttemptContinuation,
    private readonly onFailure: AttemptFailure,
  ) {}

  deliver(outcome: TaskOutcome): void {
    if (this.#outcome) return;
    this.#outcome = true;
    this.onOutcome(this, outcome);
  }

  fail(err: unknown): void {
    if (this.#outcome) return;
    this.#outcome = true;
    this.onFailure(this, err);
  }
}
