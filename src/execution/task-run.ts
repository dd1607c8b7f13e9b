import type { Span } from '@opentelemetry/api';
import type { TaskMessage } from '../protocol/envelope.ts';
import type { ResultWriteHandle } from '../results/result-backend.ts';
import type { AnyTaskState, ResultRecord } from '../results/states.ts';
import type { IncomingMessage } from '../transport/transport.ts';
import type { Logger } from '../util/logger.ts';
import type { WriteOutcome } from '../results/result-backend.ts';
import { traceparentOf } from '../telemetry/tracing.ts';
import type { OutcomeSink } from './attempt.ts';
import {
  type AttemptToken,
  type CtxRetryOptions,
  type DeliveryInfo,
  type TaskContext,
  type TaskContextData,
  type TaskLogger,
  type TaskOutcome,
  checkStateUpdate,
  retrySignal,
} from './task-definition.ts';

/** How a run writes a record (routed through the node's result writer). */
export type WriteRecord = (handle: ResultWriteHandle, record: ResultRecord) => Promise<WriteOutcome>;

/**
 * What every run of one executor shares: one object held by reference, so a run (alive for as long
 * as its task runs; 10,000 at once in a worker with that many slots) carries no copies or closures
 * of it.
 */
export interface RunEnvironment {
  readonly hostname: string;
  readonly logger: Logger;
  readonly writeRecord: WriteRecord;
  /** The record of a state a run set (`PROGRESS`, `STARTED` or a custom state) with `meta`. */
  stateRecord(task: TaskMessage, msg: IncomingMessage, state: AnyTaskState, meta: Record<string, unknown> | null): ResultRecord;
  /** Told of each progress report or state update (the worker's `task-progress` event). */
  stateReported?(task: TaskMessage, state: AnyTaskState, meta: Record<string, unknown> | null): void;
}

/**
 * One execution of one delivered task, and the `ctx` its function receives. What most tasks never
 * touch — the AbortSignal, the tagged logger, the progress chain — is created on first use, so a
 * noop task costs a handful of allocations.
 */
export class TaskRun implements TaskContext {
  readonly startedAt = Date.now();
  /** Set when the message was handed back to the broker (shutdown): its outcome is not recorded. */
  returned = false;
  /** Set when the task was revoked while running. */
  revoked = false;
  /** Set when the revoke asked to terminate it. */
  terminated = false;
  /** Set when the run was abandoned (hard time limit or terminate of an I/O task): later writes are dropped. */
  abandoned = false;
  #attempt: AttemptToken | undefined;
  #kill: AbortController | undefined;
  #onKill: OutcomeSink | undefined;
  #controller: AbortController | undefined;
  #abortReason: unknown;
  #aborted = false;
  #log: Logger | undefined;
  #progressChain: Promise<unknown> | undefined;

  constructor(
    readonly msg: IncomingMessage,
    readonly task: TaskMessage,
    readonly writer: ResultWriteHandle | null,
    private readonly env: RunEnvironment,
  ) {}

  get hostname(): string {
    return this.env.hostname;
  }

  /** This attempt's fencing token (built on first use). */
  get attempt(): AttemptToken {
    if (!this.#attempt) {
      const { sequence, deliveryCount } = this.msg.delivery;
      this.#attempt = { sequence, delivery: deliveryCount, token: `${sequence}.${deliveryCount}` };
    }
    return this.#attempt;
  }

  get idempotencyKey(): string | null {
    return this.task.idempotencyKey;
  }

  /** Throws the `Retry` signal (`throw ctx.retry(...)` reads well too). */
  retry(options?: CtxRetryOptions): never {
    throw retrySignal(options);
  }

  /** Signal for the CPU pool: aborting it terminates the thread running this task. */
  get killSignal(): AbortSignal {
    this.#kill ??= new AbortController();
    return this.#kill.signal;
  }

  /** Deliver the kill outcome to `sink` if the run is killed (an I/O task's outcome is then this one). */
  onKill(sink: OutcomeSink): void {
    this.#onKill = sink;
  }

  /** Hard stop: terminate a CPU thread / abandon an I/O task, failing the run with `reason`. */
  kill(reason: Error & { code?: string }, outcome: TaskOutcome): void {
    this.abandoned = true;
    this.abort(reason);
    this.#kill?.abort(reason);
    this.#onKill?.deliver(outcome);
  }

  get id(): string {
    return this.task.id;
  }
  get name(): string {
    return this.task.task;
  }
  get retries(): number {
    return this.task.retries;
  }
  get rootId(): string {
    return this.task.rootId;
  }
  get parentId(): string | null {
    return this.task.parentId;
  }
  get headers(): Readonly<Record<string, string>> {
    return this.task.headers;
  }
  get delivery(): DeliveryInfo {
    return this.msg.delivery;
  }

  /** Aborts on shutdown (and, later, soft time limit and revoke). */
  get signal(): AbortSignal {
    if (!this.#controller) {
      this.#controller = new AbortController();
      if (this.#aborted) this.#controller.abort(this.#abortReason);
    }
    return this.#controller.signal;
  }

  /** True once `signal` would be aborted, without creating it. */
  get aborted(): boolean {
    return this.#aborted;
  }

  /** Abort `ctx.signal` (now, or when it is first read). */
  abort(reason: unknown): void {
    if (this.#aborted) return;
    this.#aborted = true;
    this.#abortReason = reason;
    this.#controller?.abort(reason);
  }

  /** Logger tagged with the task name and id. */
  get log(): TaskLogger & Logger {
    this.#log ??= this.env.logger.child({ task: this.task.task, id: this.task.id });
    return this.#log;
  }

  #progressFn: ((meta: Record<string, unknown>) => Promise<void>) | undefined;

  /** Record progress (`PROGRESS` state); writes are ordered. Safe to destructure from `ctx`. */
  get progress(): (meta: Record<string, unknown>) => Promise<void> {
    this.#progressFn ??= (meta) => this.#setState('PROGRESS', meta);
    return this.#progressFn;
  }

  #updateStateFn: ((state: AnyTaskState, meta?: Record<string, unknown>) => Promise<void>) | undefined;

  /** Set the stored state (`STARTED`, `PROGRESS` or a custom one); ordered with `progress`. Safe to destructure. */
  get updateState(): (state: AnyTaskState, meta?: Record<string, unknown>) => Promise<void> {
    // Checked at the call (a throw, not a rejected promise): a task that forgets to await still hears of it.
    this.#updateStateFn ??= (state, meta) => this.#setState(state, checkStateUpdate(this.task.task, state, meta));
    return this.#updateStateFn;
  }

  /** Store `state` with `meta` after the writes issued before it (and report it). */
  setState(state: AnyTaskState, meta: Record<string, unknown> | null): Promise<void> {
    return this.#setState(state, meta);
  }

  #setState(state: AnyTaskState, meta: Record<string, unknown> | null): Promise<void> {
    if (this.abandoned) return Promise.resolve();
    this.env.stateReported?.(this.task, state, meta);
    const writer = this.writer;
    if (!writer) return Promise.resolve();
    const p = (this.#progressChain ?? Promise.resolve()).then(() => this.env.writeRecord(writer, this.env.stateRecord(this.task, this.msg, state, meta)));
    this.#progressChain = p.catch(() => undefined);
    const done = p.then(() => undefined);
    // A task that does not await its progress must not crash the worker with an unhandled
    // rejection when the store is down: the failure is logged, and still rejects for a caller who awaits.
    done.catch((err: unknown) => this.log.warn('state write failed', { state, error: err instanceof Error ? err.message : String(err) }));
    return done;
  }

  /**
   * Settles when every progress write issued so far has settled; `undefined` when none was issued
   * (most tasks: no promise to wait for).
   */
  get pendingProgress(): Promise<unknown> | undefined {
    return this.#progressChain;
  }

  /** W3C `traceparent` of this attempt's CONSUMER span (handed to a CPU thread; built when asked). */
  get traceparent(): string | undefined {
    return this.span ? traceparentOf(this.span) : undefined;
  }

  /** This attempt's CONSUMER span (`ctx.span`; not handed to a CPU thread). */
  span: Span | undefined;

  /** The serialisable part of the context (for CPU threads). */
  data(): TaskContextData {
    return {
      id: this.id,
      name: this.name,
      retries: this.retries,
      attempt: this.attempt,
      idempotencyKey: this.idempotencyKey,
      rootId: this.rootId,
      parentId: this.parentId,
      headers: this.headers,
      hostname: this.hostname,
      delivery: this.delivery,
      traceparent: this.traceparent,
    };
  }
}
