/**
 * A one-for-one supervisor: starts actors and child supervisors, restarts crashed children with
 * exponential back-off, and gives up (escalates) when restarts come too fast.
 * @module
 */
import { ClosedError, EscalationError, InvalidArgumentError } from '../../errors.ts';
import type { ActorBehavior, ActorRef, ActorState } from './actor.ts';
import { ActorCell } from './actor-cell.ts';
import { backoffDelayMs, resolveSupervisorOptions } from './supervisor-options.ts';
import type { ResolvedSupervisorOptions, SupervisorEvent, SupervisorOptions } from './supervisor-options.ts';

/** Options of {@link Supervisor.spawn}. */
export interface SpawnOptions {
  /**
   * Capacity of the actor's mailbox; a positive integer. When it is full, `tell` throws
   * `MailboxFullError`, `tryTell` returns `false` and `send` waits.
   * @defaultValue 1024
   */
  mailboxCapacity?: number;
}

/** Default {@link SpawnOptions.mailboxCapacity}. */
export const DEFAULT_MAILBOX_CAPACITY = 1024;

/** A supervised child (actor or supervisor) and its restart bookkeeping. */
interface Child {
  readonly name: string;
  readonly ref: ActorRef<unknown> | undefined;
  /** Start a fresh incarnation. */
  readonly begin: () => void;
  /** Stop the incarnation but keep it restartable (used when this supervisor fails). */
  readonly halt: () => Promise<void>;
  /** Stop for good. */
  readonly stop: () => Promise<void>;
  /** Consecutive restarts (drives the back-off). */
  attempt: number;
  /** `performance.now()` of the last (re)start. */
  startedAt: number;
  timer: ReturnType<typeof setTimeout> | undefined;
  stopping: boolean;
}

/**
 * Supervises a set of named children with the **one-for-one** strategy: when a child crashes only
 * that child is restarted, after an exponential back-off; its mailbox (and so its queued messages)
 * survives, and its behaviour is recreated from the factory. The message being handled when it
 * crashed is not redelivered.
 *
 * More than `maxRestarts` restarts within `withinMs` make the supervisor fail: it stops all its
 * children (`stop(ctx, 'shutdown')`) and escalates an {@link EscalationError} whose `cause` is the last
 * child error: to its parent supervisor, which treats it as a crashed child and restarts the whole
 * subtree, or, at the root, to `options.onFatal`.
 *
 * A supervisor is running as soon as it is constructed; children start when spawned and are
 * stopped in reverse start order.
 *
 * @example
 * ```ts
 * const root = new Supervisor('node', { onFatal: () => process.exit(1) });
 * const printer = root.spawn<string>('printer', () => ({ receive: (line) => console.log(line) }));
 * printer.tell('hello');
 * const consumers = root.spawnSupervisor('consumers', { maxRestarts: 3 });
 * // ...
 * await root.stop();
 * ```
 */
export class Supervisor {
  /** The supervisor's name, unique among its parent's children. */
  readonly name: string;
  readonly #opts: ResolvedSupervisorOptions;
  /** Children in start order (Map keeps insertion order). */
  readonly #children = new Map<string, Child>();
  /** `performance.now()` of recent restarts, oldest first; pruned to the `withinMs` window. */
  #restarts: number[] = [];
  #state: ActorState = 'running';
  #escalate: ((err: EscalationError) => void) | undefined;
  #final = false;
  #stopped: Promise<void> | undefined;

  /**
   * Create a running (root) supervisor. Use {@link Supervisor.spawnSupervisor} for child supervisors.
   * @throws InvalidArgumentError for an empty name or invalid options (see {@link resolveSupervisorOptions}).
   */
  constructor(name: string, options?: SupervisorOptions) {
    assertName(name);
    this.name = name;
    this.#opts = resolveSupervisorOptions(options);
  }

  /**
   * `'running'` while supervising; `'draining'` then `'stopped'` during {@link Supervisor.stop};
   * `'failed'` after it gave up (final at the root; a child supervisor is restarted by its parent).
   */
  get state(): ActorState {
    return this.#state;
  }

  /**
   * Start an actor under this supervisor.
   * @param factory - creates the behaviour; called again for every restart.
   * @returns a reference that stays valid across restarts.
   * @throws InvalidArgumentError for an empty or duplicate name or a bad `mailboxCapacity`.
   * @throws ClosedError when the supervisor is not running.
   */
  spawn<M>(name: string, factory: () => ActorBehavior<M>, opts: SpawnOptions = {}): ActorRef<M> {
    this.#assertCanAdd(name);
    const capacity = opts.mailboxCapacity ?? DEFAULT_MAILBOX_CAPACITY;
    if (!Number.isInteger(capacity) || capacity < 1) {
      throw new InvalidArgumentError(`options.mailboxCapacity must be a positive integer, got ${String(capacity)}`);
    }
    if (typeof factory !== 'function') throw new InvalidArgumentError('factory must be a function');
    const cell: ActorCell<M> = new ActorCell<M>(name, factory, capacity, {
      started: () => this.#emit({ type: 'child-started', supervisor: this.name, child: name, attempt: rec.attempt }),
      crashed: (err) => this.#childCrashed(rec, err),
      stopFailed: (error) => this.#emit({ type: 'child-stop-failed', supervisor: this.name, child: name, error }),
    });
    const rec = this.#add(name, cell, () => cell.begin(), () => cell.halt(), () => cell.stop());
    rec.begin();
    return cell;
  }

  /**
   * Start a child supervisor. When it escalates, this supervisor treats it as a crashed child and
   * restarts it (re-running its children's factories), subject to this supervisor's intensity.
   * @param options - its own options; `onEvent` defaults to this supervisor's, `onFatal` is unused.
   * @throws InvalidArgumentError for an empty or duplicate name or invalid options.
   * @throws ClosedError when this supervisor is not running.
   */
  spawnSupervisor(name: string, options: SupervisorOptions = {}): Supervisor {
    this.#assertCanAdd(name);
    const sub = new Supervisor(name, { ...options, onEvent: options.onEvent ?? this.#opts.onEvent });
    sub.#escalate = (err) => this.#childCrashed(rec, err);
    const begin = (): void => {
      sub.#begin();
      this.#emit({ type: 'child-started', supervisor: this.name, child: name, attempt: rec.attempt });
    };
    const rec = this.#add(name, undefined, begin, () => sub.#halt(), () => sub.stop());
    this.#emit({ type: 'child-started', supervisor: this.name, child: name, attempt: 0 });
    return sub;
  }

  /** The actor child named `name`, or `undefined` (also for child supervisors). */
  child(name: string): ActorRef<unknown> | undefined {
    return this.#children.get(name)?.ref;
  }

  /**
   * Stop one child for good (as {@link Supervisor.stop} stops each) and forget it, so its name can
   * be used again; resolves false when there is no such child.
   */
  async stopChild(name: string): Promise<boolean> {
    const rec = this.#children.get(name);
    if (!rec) return false;
    rec.stopping = true;
    if (rec.timer !== undefined) clearTimeout(rec.timer);
    rec.timer = undefined;
    await rec.stop();
    this.#children.delete(name);
    this.#emit({ type: 'child-stopped', supervisor: this.name, child: name });
    return true;
  }

  /**
   * Stop gracefully and for good: pending restarts are cancelled, then children are stopped one
   * after the other in reverse start order. Each actor refuses new messages, finishes its in-flight
   * message and drains what is already queued, then runs `stop(ctx, 'shutdown')`; an actor that was
   * waiting for a restart drops its queue. Idempotent.
   */
  stop(): Promise<void> {
    this.#stopped ??= this.#stopAll();
    return this.#stopped;
  }

  async #stopAll(): Promise<void> {
    this.#final = true;
    this.#cancelTimers();
    if (this.#state !== 'failed') this.#state = 'draining';
    for (const rec of [...this.#children.values()].reverse()) {
      rec.stopping = true;
      await rec.stop();
      this.#emit({ type: 'child-stopped', supervisor: this.name, child: rec.name });
    }
    if (this.#state === 'draining') this.#state = 'stopped';
  }

  #childCrashed(rec: Child, error: unknown): void {
    if (this.#state !== 'running' || rec.stopping) {
      this.#emit({ type: 'child-crashed', supervisor: this.name, child: rec.name, error, attempt: rec.attempt });
      return;
    }
    const now = performance.now();
    const { withinMs, maxRestarts } = this.#opts;
    this.#restarts = this.#restarts.filter((t) => now - t < withinMs);
    if (this.#restarts.length >= maxRestarts) {
      this.#emit({ type: 'child-crashed', supervisor: this.name, child: rec.name, error, attempt: rec.attempt });
      void this.#fail(rec.name, error);
      return;
    }
    this.#restarts.push(now);
    if (now - rec.startedAt >= withinMs) rec.attempt = 0;
    const attempt = ++rec.attempt;
    const delayMs = backoffDelayMs(attempt, this.#opts.backoff);
    this.#emit({ type: 'child-crashed', supervisor: this.name, child: rec.name, error, attempt, delayMs });
    rec.timer = setTimeout(() => {
      rec.timer = undefined;
      if (this.#state !== 'running' || rec.stopping) return;
      rec.startedAt = performance.now();
      this.#emit({ type: 'child-restarted', supervisor: this.name, child: rec.name, attempt, delayMs });
      rec.begin();
    }, delayMs);
  }

  /** Restart intensity exceeded: stop the children (restartably), then escalate. */
  async #fail(child: string, cause: unknown): Promise<void> {
    this.#state = 'failed';
    this.#cancelTimers();
    const { maxRestarts, withinMs } = this.#opts;
    const error = new EscalationError(
      `supervisor "${this.name}" gave up after more than ${maxRestarts} restarts within ${withinMs}ms; last crash: child "${child}"`,
      { cause },
    );
    await this.#haltChildren();
    this.#emit({ type: 'escalated', supervisor: this.name, child, error });
    if (this.#escalate) {
      this.#escalate(error);
      return;
    }
    await this.stop(); // the root is gone for good: close the mailboxes
    this.#opts.onFatal(error);
  }

  /** Restart as a child supervisor: every child starts a fresh incarnation, in start order. */
  #begin(): void {
    if (this.#final) return;
    this.#state = 'running';
    this.#restarts = [];
    const now = performance.now();
    for (const rec of this.#children.values()) {
      rec.attempt = 0;
      rec.startedAt = now;
      rec.begin();
    }
  }

  /** Stopped because the parent failed: stop the children but keep them restartable. */
  async #halt(): Promise<void> {
    this.#cancelTimers();
    if (this.#state === 'failed') return this.#haltChildren();
    this.#state = 'draining';
    await this.#haltChildren();
    if (this.#state === 'draining') this.#state = 'stopped';
  }

  async #haltChildren(): Promise<void> {
    for (const rec of [...this.#children.values()].reverse()) await rec.halt();
  }

  #cancelTimers(): void {
    for (const rec of this.#children.values()) {
      if (rec.timer !== undefined) clearTimeout(rec.timer);
      rec.timer = undefined;
    }
  }

  #add(
    name: string,
    ref: ActorRef<unknown> | undefined,
    begin: () => void,
    halt: () => Promise<void>,
    stop: () => Promise<void>,
  ): Child {
    const rec: Child = { name, ref, begin, halt, stop, attempt: 0, startedAt: performance.now(), timer: undefined, stopping: false };
    this.#children.set(name, rec);
    return rec;
  }

  #assertCanAdd(name: string): void {
    assertName(name);
    if (this.#state !== 'running') {
      throw new ClosedError(`supervisor "${this.name}" is ${this.#state}; cannot start child "${name}"`);
    }
    if (this.#children.has(name)) {
      throw new InvalidArgumentError(`supervisor "${this.name}" already has a child named "${name}"`);
    }
  }

  #emit(event: SupervisorEvent): void {
    try {
      this.#opts.onEvent?.(event);
    } catch {
      // Observers must not break supervision.
    }
  }
}

function assertName(name: string): void {
  if (typeof name !== 'string' || name.length === 0) {
    throw new InvalidArgumentError(`name must be a non-empty string, got ${JSON.stringify(name)}`);
  }
}
