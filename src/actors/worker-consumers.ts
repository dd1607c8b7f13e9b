/**
 * The queues a worker node consumes and their consumer actors: one `consumer:<queue>` child per
 * queue, all sharing the node's async slots. Queues are added and cancelled at run time, paused while
 * their tasks cannot run, and drained (intake stopped) at shutdown.
 * @module
 */
import { ClosedError, InvalidArgumentError } from '../errors.ts';
import type { Executor } from '../execution/executor.ts';
import type { SlotPool } from '../execution/slot-pool.ts';
import type { Transport } from '../transport/transport.ts';
import type { Logger } from '../util/logger.ts';
import { type ConsumerMsg, consumerActor } from './consumer-actor.ts';
import type { ActorRef } from './kernel/index.ts';
import type { WorkerTree } from './worker-tree.ts';

/** Settings of {@link WorkerConsumers}. */
export interface WorkerConsumersSettings {
  /** Queues consumed from the start. */
  queues: readonly string[];
  /** Where the consumer actors run. */
  tree: WorkerTree;
  slots: SlotPool;
  /** The app's transport (asked for when a consumer is spawned). */
  transport: () => Transport;
  /** The node's executor (there once the node started). */
  executor: () => Executor;
  logger: Logger;
  /** Largest single pull request of a consumer. */
  maxBatch: number;
}

/** The node's consumed queues, their consumer actors and their pauses. */
export class WorkerConsumers {
  readonly #s: WorkerConsumersSettings;
  readonly #consumers = new Map<string, ActorRef<ConsumerMsg>>();
  /** Queues consumed now (`add` / `cancel` change it). */
  readonly #queues: string[] = [];
  readonly #paused = new Map<string, number>();

  constructor(s: WorkerConsumersSettings) {
    this.#s = s;
    this.#queues.push(...s.queues);
  }

  /** Queues consumed now. */
  get queues(): readonly string[] {
    return this.#queues;
  }

  /** True when broker queue `name` is one of the consumed queues or one of their priority bands. */
  consumes(name: string): boolean {
    return this.#queues.some((q) => name === q || name.startsWith(`${q}--`));
  }

  /** Epoch ms until which `queue` is paused; 0 = not paused. */
  pausedUntil(queue: string): number {
    return this.#paused.get(queue) ?? 0;
  }

  /** Stop fetching from `queue` until `untilMs` (epoch ms); a later call replaces the time. */
  pause(queue: string, untilMs: number): void {
    this.#paused.set(queue, untilMs);
  }

  /** Fetch from `queue` again. */
  resume(queue: string): void {
    this.#paused.delete(queue);
  }

  /** Spawn the consumer of every queue consumed now, one after the other (node start). */
  async spawnAll(): Promise<void> {
    for (const queue of [...this.#queues]) await this.#spawn(queue);
  }

  /** Start consuming `queue` (if not yet); resolves with the queues consumed now. */
  async add(queue: string): Promise<string[]> {
    if (!this.#consumers.has(queue)) {
      const others = [...this.#consumers.values()];
      this.#queues.push(queue);
      try {
        await this.#spawn(queue);
      } catch (err) {
        this.#queues.splice(this.#queues.indexOf(queue), 1);
        throw err;
      }
      // The queues now share the slots: the others hand back what their open pulls hold.
      for (const ref of others) ref.tryTell({ type: 'rebalance' });
      this.#s.logger.info('consuming queue', { queue });
    }
    return [...this.#queues];
  }

  /**
   * Stop consuming `queue`: no more messages are taken from it; those taken run to their end.
   * Resolves with the queues consumed now.
   * @throws InvalidArgumentError when it is the last queue (a worker consumes at least one).
   */
  async cancel(queue: string): Promise<string[]> {
    const ref = this.#consumers.get(queue);
    if (!ref) return [...this.#queues];
    if (this.#queues.length === 1) throw new InvalidArgumentError(`"${queue}" is the only queue of this worker; stop the worker instead`);
    this.#consumers.delete(queue);
    this.#queues.splice(this.#queues.indexOf(queue), 1);
    await drain(ref);
    await this.#s.tree.stopChild(`consumer:${queue}`);
    // The last queue no longer shares the slots: it goes back to pipelined pulls.
    if (this.#queues.length === 1) for (const other of this.#consumers.values()) other.tryTell({ type: 'rebalance' });
    this.#s.logger.info('stopped consuming queue', { queue });
    return [...this.#queues];
  }

  /** Fault injection: crash the consumer actor of `queue`. @throws ClosedError when there is none. */
  crash(queue: string, error: Error): void {
    const ref = this.#consumers.get(queue);
    if (!ref) throw new ClosedError(`no consumer for queue "${queue}"`);
    ref.tell({ type: 'crash', error });
  }

  /** Stop intake: every consumer closes its subscription (undelivered credit is dropped). */
  async drainAll(): Promise<void> {
    await Promise.all([...this.#consumers.values()].map(drain));
  }

  async #spawn(queue: string): Promise<void> {
    const transport = this.#s.transport();
    const ref = await this.#s.tree.spawn(
      `consumer:${queue}`,
      consumerActor({
        queue,
        transport,
        slots: this.#s.slots,
        executor: this.#s.executor(),
        logger: this.#s.logger,
        maxBatch: this.#s.maxBatch,
        maxOutstanding: 4,
        shared: () => this.#queues.length > 1,
        pausedUntil: () => this.#paused.get(queue) ?? 0,
        bands: transport.queueSettings(queue).priorities ? [`${queue}--hi`, queue, `${queue}--lo`] : undefined,
      }),
    );
    this.#consumers.set(queue, ref);
  }
}

/** Ask one consumer to stop its intake; resolves once it has (at once when it takes no message). */
function drain(ref: ActorRef<ConsumerMsg>): Promise<void> {
  return new Promise<void>((resolve) => {
    if (!ref.tryTell({ type: 'drain', done: resolve })) resolve();
  });
}
