/**
 * The runtime of one actor: its mailbox, and the loop that runs one incarnation of its behaviour
 * at a time. Internal to the kernel: users get an {@link ActorRef} from `Supervisor.spawn()`.
 * @module
 */
import { ClosedError } from '../../errors.ts';
import type { ActorBehavior, ActorContext, ActorRef, ActorState, StopReason } from './actor.ts';
import { Mailbox } from './mailbox.ts';

/** How a cell reports to its supervisor. @internal */
export interface CellHooks {
  /** An incarnation finished `start()` and is running. */
  started(): void;
  /** An incarnation crashed and has been cleaned up; the cell waits for `begin()`. */
  crashed(err: unknown): void;
  /** `behaviour.stop()` threw or rejected. */
  stopFailed(err: unknown): void;
}

/** Why an incarnation ended. */
type End = { reason: 'shutdown' } | { reason: 'crash'; error: unknown };

/** One run of a behaviour, from factory to `stop()`. */
interface Incarnation {
  /** Aborts `ctx.signal`. */
  readonly life: AbortController;
  /** Aborts the loop's wait for the next message. */
  readonly loop: AbortController;
  end: End | undefined;
  done: Promise<void>;
}

/**
 * An actor's runtime: implements {@link ActorRef} for senders and `begin`/`halt`/`stop` for its
 * supervisor. The mailbox is created once and survives restarts; the behaviour is recreated from
 * the factory for every incarnation.
 * @internal
 */
export class ActorCell<M> implements ActorRef<M> {
  /** The actor's name. */
  readonly name: string;
  readonly #mailbox: Mailbox<M>;
  readonly #factory: () => ActorBehavior<M>;
  readonly #hooks: CellHooks;
  #state: ActorState = 'stopped';
  #inc: Incarnation | undefined;
  #final = false;

  /**
   * @param capacity - mailbox capacity (validated by {@link Mailbox}).
   * @throws InvalidArgumentError when `capacity` is not a positive integer.
   */
  constructor(name: string, factory: () => ActorBehavior<M>, capacity: number, hooks: CellHooks) {
    this.name = name;
    this.#factory = factory;
    this.#hooks = hooks;
    this.#mailbox = new Mailbox<M>(capacity, name);
  }

  /** Current lifecycle state. */
  get state(): ActorState {
    return this.#state;
  }

  /** Queue a message if there is room; `false` when full or stopped. */
  tryTell(m: M): boolean {
    return this.#mailbox.tryPost(m);
  }

  /** Queue a message. @throws MailboxFullError when full. @throws ClosedError when stopped. */
  tell(m: M): void {
    this.#mailbox.post(m);
  }

  /** Queue a message, waiting for room. Rejects with ClosedError when the actor stops first. */
  send(m: M): Promise<void> {
    return this.#mailbox.send(m);
  }

  /**
   * Start a new incarnation (first start or restart). It runs once the previous one has fully
   * ended. No-op after a final {@link ActorCell.stop}.
   */
  begin(): void {
    if (this.#final) return;
    const prev = this.#inc;
    const inc: Incarnation = {
      life: new AbortController(),
      loop: new AbortController(),
      end: undefined,
      done: Promise.resolve(),
    };
    this.#inc = inc;
    this.#state = 'starting';
    inc.done = (prev ? prev.done : Promise.resolve()).then(() => this.#run(inc));
  }

  /**
   * End the current incarnation without draining: the in-flight message (or `start()`) finishes,
   * then `stop(ctx, 'shutdown')` runs. The mailbox stays open, so a later {@link ActorCell.begin}
   * resumes with the queued messages. Used when the supervisor itself fails.
   */
  halt(): Promise<void> {
    return this.#shutdown(false);
  }

  /**
   * Stop for good, draining: the mailbox is closed to new messages, the incarnation processes what
   * is already queued, then `stop(ctx, 'shutdown')` runs. If the actor is waiting for a restart (or
   * crashes while draining), the remaining messages are dropped.
   */
  stop(): Promise<void> {
    this.#final = true;
    return this.#shutdown(true);
  }

  async #shutdown(final: boolean): Promise<void> {
    const inc = this.#inc;
    if (final) this.#mailbox.close();
    if (inc && !inc.end) {
      this.#state = 'draining';
      if (!final) {
        inc.end = { reason: 'shutdown' };
        inc.loop.abort();
      }
    }
    if (inc) await inc.done;
    if (final) this.#mailbox.drain();
    this.#state = 'stopped';
  }

  #crash(inc: Incarnation, error: unknown): void {
    if (inc.end) return;
    inc.end = { reason: 'crash', error };
    inc.loop.abort();
    inc.life.abort(error);
    if (this.#inc === inc) this.#state = 'failed';
  }

  async #run(inc: Incarnation): Promise<void> {
    const ctx: ActorContext<M> = {
      name: this.name,
      self: this,
      signal: inc.life.signal,
      fail: (err) => this.#crash(inc, err),
    };
    let behavior: ActorBehavior<M> | undefined;
    try {
      if (!inc.end) {
        behavior = this.#factory();
        await behavior.start?.(ctx);
        if (!inc.end) {
          this.#state = 'running';
          this.#hooks.started();
        }
        await this.#loop(inc, behavior, ctx);
      }
    } catch (err) {
      // A handler that throws while halting still counts as a crash (reported, but not restarted).
      if (inc.end?.reason === 'shutdown') inc.end = undefined;
      this.#crash(inc, err);
    }
    const end: End = inc.end ?? { reason: 'shutdown' };
    if (end.reason === 'shutdown') inc.life.abort(new ClosedError(`actor "${this.name}" stopped`));
    await this.#cleanup(behavior, ctx, end.reason);
    if (end.reason === 'crash') this.#hooks.crashed(end.error);
  }

  async #loop(inc: Incarnation, behavior: ActorBehavior<M>, ctx: ActorContext<M>): Promise<void> {
    while (!inc.end) {
      try {
        await this.#mailbox.whenReadable(inc.loop.signal);
      } catch {
        return; // the incarnation ended while idle
      }
      if (inc.end) return; // decided synchronously: a message is only taken by a live incarnation
      const msg = this.#mailbox.tryTake();
      if (msg !== undefined) await behavior.receive(msg, ctx);
      else if (this.#mailbox.closed) return; // drained after a final stop
    }
  }

  async #cleanup(behavior: ActorBehavior<M> | undefined, ctx: ActorContext<M>, reason: StopReason): Promise<void> {
    if (!behavior?.stop) return;
    try {
      await behavior.stop(ctx, reason);
    } catch (err) {
      this.#hooks.stopFailed(err);
    }
  }
}
