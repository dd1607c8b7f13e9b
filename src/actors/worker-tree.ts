/**
 * The root of a worker node's supervision tree: the supervisor its actors run under, a spawn that
 * resolves once the child has started, and the log lines of restarts, crashes and escalation.
 * @module
 */
import type { EscalationError } from '../errors.ts';
import type { Logger } from '../util/logger.ts';
import { type ActorBehavior, type ActorRef, Supervisor, type SupervisorEvent } from './kernel/index.ts';

/** Settings of a {@link WorkerTree}. */
export interface WorkerTreeSettings {
  /** The worker's name (the root supervisor is `worker:<name>`). */
  name: string;
  /** Restarts allowed within `restartWindowMs` before the tree gives up. */
  maxRestarts: number;
  restartWindowMs: number;
  logger: Logger;
  /** Called when the tree gives up (restart intensity exceeded). */
  onFatal(err: EscalationError): void;
}

/** The node's root supervisor, with start waiting and logging of its events. */
export class WorkerTree {
  readonly #root: Supervisor;
  readonly #logger: Logger;
  readonly #startWaiters = new Map<string, { resolve(): void; reject(e: unknown): void }>();

  constructor(s: WorkerTreeSettings) {
    this.#logger = s.logger;
    this.#root = new Supervisor(`worker:${s.name}`, {
      maxRestarts: s.maxRestarts,
      withinMs: s.restartWindowMs,
      onEvent: (e) => this.#onSupervisorEvent(e),
      onFatal: (err) => s.onFatal(err),
    });
  }

  /** Start a child; resolves with its reference once it has started (rejects when the tree gives up first). */
  spawn<M>(name: string, factory: () => ActorBehavior<M>, mailboxCapacity = 64): Promise<ActorRef<M>> {
    const started = new Promise<void>((resolve, reject) => this.#startWaiters.set(name, { resolve, reject }));
    const ref = this.#root.spawn(name, factory, { mailboxCapacity });
    return started.then(() => ref);
  }

  /** Stop one child for good and forget it. */
  stopChild(name: string): Promise<boolean> {
    return this.#root.stopChild(name);
  }

  /** Stop every child, last started first. */
  stop(): Promise<void> {
    return this.#root.stop();
  }

  /** Reject the spawn of every child still starting (the tree gave up). */
  failStarts(err: Error): void {
    for (const w of this.#startWaiters.values()) w.reject(err);
    this.#startWaiters.clear();
  }

  #onSupervisorEvent(e: SupervisorEvent): void {
    const w = this.#startWaiters.get(e.child);
    if (e.type === 'child-started') {
      if (w) {
        this.#startWaiters.delete(e.child);
        w.resolve();
      }
      if (e.attempt > 1) this.#logger.info('actor restarted', { actor: e.child, attempt: e.attempt });
    } else if (e.type === 'child-crashed') {
      // A start that cannot succeed is retried with back-off; when the intensity runs out, the node's
      // onFatal rejects start() with the EscalationError (its cause is this error).
      this.#logger.error('actor crashed', { actor: e.child, attempt: e.attempt, restartInMs: e.delayMs, error: e.error });
    } else if (e.type === 'escalated') {
      this.#logger.error('supervisor gave up', { supervisor: e.supervisor, actor: e.child, error: e.error });
    }
  }
}
