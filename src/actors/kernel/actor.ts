/**
 * The actor contract: what a behaviour implements, what it is handed, and how others address it.
 * Actors are created by a {@link Supervisor} (`supervisor.spawn()`); the runtime cell lives in
 * `actor-cell.ts`.
 * @module
 */

/**
 * Lifecycle of an actor (and of a supervisor).
 *
 * - `'starting'`: an incarnation is being created (factory, then `start()`); messages queue up.
 * - `'running'`: messages are processed one at a time, in order.
 * - `'draining'`: a graceful stop was requested: the mailbox refuses new messages (`ClosedError`), the
 *   in-flight message and those already queued are processed, then `stop(ctx, 'shutdown')` runs. (When a
 *   failed supervisor stops its children for a restart, only the in-flight message finishes and the
 *   queue is kept for the next incarnation.)
 * - `'stopped'`: no incarnation is running. Final after a graceful stop (mailbox closed); transient
 *   while a failed parent supervisor waits to be restarted (mailbox kept).
 * - `'failed'`: the incarnation crashed; the supervisor restarts it after a back-off (messages keep
 *   queueing meanwhile), or, for a supervisor, it exceeded its restart intensity and escalated.
 */
export type ActorState = 'starting' | 'running' | 'draining' | 'stopped' | 'failed';

/** Why a behaviour's `stop()` is called. */
export type StopReason = 'shutdown' | 'crash';

/**
 * What an actor does. A fresh behaviour object is created from the spawn factory for every
 * incarnation, so per-incarnation state can live in the object; state that must survive restarts
 * belongs elsewhere.
 *
 * @example
 * ```ts
 * const counter = (): ActorBehavior<number> => {
 *   let total = 0;
 *   return { receive(n) { total += n; } };
 * };
 * supervisor.spawn('counter', counter).tell(5);
 * ```
 */
export interface ActorBehavior<M> {
  /** Called once per incarnation before messages are processed. Throwing = crash. */
  start?(ctx: ActorContext<M>): Promise<void> | void;
  /** Handle one message; messages are processed one at a time in order. Throwing = crash. */
  receive(msg: M, ctx: ActorContext<M>): Promise<void> | void;
  /**
   * Called on stop (graceful, after the queued messages were processed) and after a crash before the
   * restart (cleanup). `ctx.signal` is already aborted. Must not throw: errors are reported as a
   * `child-stop-failed` supervisor event and otherwise ignored.
   */
  stop?(ctx: ActorContext<M>, reason: StopReason): Promise<void> | void;
}

/** Handed to every behaviour call; one context per incarnation. */
export interface ActorContext<M> {
  /** The actor's name, unique among its supervisor's children. */
  readonly name: string;
  /** A reference to this actor, e.g. to re-enqueue work or hand to others. Survives restarts. */
  readonly self: ActorRef<M>;
  /**
   * Report a crash from async work outside `receive` (e.g. a background loop started in `start()`).
   * The incarnation is torn down (an in-flight `receive` is awaited first) and restarted by the
   * supervisor. Calls after the incarnation ended are ignored.
   */
  fail(err: unknown): void;
  /**
   * Aborted when this incarnation stops or crashes (with the crash error as `reason`). Background
   * work and long handlers should honour it: a crashed incarnation is not replaced until its
   * in-flight `receive` returns.
   */
  readonly signal: AbortSignal;
}

/** How other code addresses an actor. Stays valid across restarts: the mailbox survives them. */
export interface ActorRef<M> {
  /** The actor's name. */
  readonly name: string;
  /** Current lifecycle state. */
  readonly state: ActorState;
  /**
   * Queue a message if there is room.
   * @returns `false` when the mailbox is full or the actor is stopped (the message is dropped).
   */
  tryTell(m: M): boolean;
  /**
   * Queue a message or throw.
   * @throws MailboxFullError when the mailbox is full.
   * @throws ClosedError when the actor is stopped or draining.
   */
  tell(m: M): void;
  /**
   * Queue a message, waiting for room when the mailbox is full (backpressure).
   * @throws ClosedError (rejection) when the actor stops before the message is queued.
   */
  send(m: M): Promise<void>;
}
