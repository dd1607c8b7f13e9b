import { ClosedError, type EscalationError, InvalidArgumentError } from '../errors.ts';
import type { Scheduler, SchedulerStats } from './scheduler.ts';
import { schedulingActor } from './scheduling.ts';
import type { Executor, ExecutorStats } from '../execution/executor.ts';
import { SlotPool } from '../execution/slot-pool.ts';
import { createLogger, type Logger } from '../util/logger.ts';
import { hostname } from 'node:os';
import { EventEmitter } from '../execution/event-emitter.ts';
import { workerRegistryActor } from './worker-registry.ts';
import { type WorkerMetrics, createWorkerMetrics } from '../telemetry/metrics.ts';
import { deadLetterBackstopActor } from './dead-letter-backstop-actor.ts';
import { revocationsActor } from './revocations-actor.ts';
import { type ControlTarget, controlResponderActor } from './control-responder.ts';
import { autoscalerActor } from './autoscaler.ts';
import { validateToken } from '../protocol/names.ts';
import type { ActiveTask, ReservedTask } from '../execution/executor.ts';
import { resultWriterActor } from './result-writer-actor.ts';
import { type ResolvedWorkerOptions, type WorkerOptions, resolveWorkerOptions } from './worker-options.ts';
import { type WorkerApp, followEventsSwitch } from './worker-app.ts';
import { type ActiveQueue, type ScheduledReport, activeQueuesReport, scheduledReport, workerStatsReport } from './worker-reports.ts';
import { WorkerTree } from './worker-tree.ts';
import { WorkerConsumers } from './worker-consumers.ts';
import { WorkerCpuThreads } from './worker-cpu-threads.ts';
import { connectionActor } from './connection-actor.ts';
import { type WorkerStores, storesActor } from './worker-stores.ts';
import { createWorkerExecutor } from './worker-executor.ts';
import { drainInFlight } from './worker-shutdown.ts';

export { EVENTS_SWITCH_KEY } from './worker-app.ts';
export type { WorkerApp, WorkerMiddleware } from './worker-app.ts';

/**
 * Lifecycle of a worker node: `starting` → `running` → `draining` (warm shutdown: no intake,
 * in-flight tasks finish) → `stopped`; `failed` when the supervision tree gave up.
 */
export type WorkerState = 'idle' | 'starting' | 'running' | 'draining' | 'stopped' | 'failed';

/**
 * A worker node: a supervision tree of actors — `connection`, `results`, `result-writer`,
 * `cpu-pool`, `slots` and one `consumer:<queue>` per queue. A crashed actor is restarted with back-off; too many restarts
 * in the window stop the node with `state = 'failed'` and the `onFatal` callback (the CLI exits 1).
 */
export class WorkerNode implements ControlTarget {
  readonly options: ResolvedWorkerOptions;
  readonly logger: Logger;
  readonly #app: WorkerApp;
  readonly #tree: WorkerTree;
  readonly #slots: SlotPool;
  #executor: Executor | undefined;
  /** The CPU pool and the quarantine threads. */
  readonly #cpu: WorkerCpuThreads;
  #state: WorkerState = 'idle';
  /** Queues consumed now (`add-consumer` / `cancel-consumer` change them) and their consumers. */
  readonly #consumers: WorkerConsumers;
  readonly #stoppedListeners = new Set<() => void>();
  #startedAt = 0;
  readonly #fatalListeners = new Set<(err: Error) => void>();
  #onFatalError: Error | undefined;
  /** A started node keeps the process alive until it stops (memory:// has no socket that would). */
  #keepAlive: NodeJS.Timeout | undefined;

  /** Built by `app.worker(options)`. @internal */
  constructor(app: WorkerApp, options: WorkerOptions = {}) {
    this.#app = app;
    this.options = resolveWorkerOptions(options, app.options.defaultQueue);
    this.logger = this.options.logger ?? createLogger({ level: 'info' });
    this.#slots = new SlotPool(this.options.concurrency);
    this.#tree = new WorkerTree({
      name: this.options.name,
      maxRestarts: this.options.maxRestarts,
      restartWindowMs: this.options.restartWindowMs,
      logger: this.logger,
      onFatal: (err) => this.#onFatal(err),
    });
    this.#consumers = new WorkerConsumers({
      queues: this.options.queues,
      tree: this.#tree,
      slots: this.#slots,
      transport: () => this.#app.transport(),
      executor: () => this.#executor as Executor,
      logger: this.logger,
      maxBatch: Math.min(this.options.autoscale?.max ?? this.options.concurrency, 256),
    });
    this.#cpu = new WorkerCpuThreads(this.options, app.name, this.logger);
  }

  /** Current lifecycle state. */
  get state(): WorkerState {
    return this.#state;
  }

  /** Counters of the executor (succeeded, failed, retried, dead-lettered, ...) and slots in use. */
  stats(): ExecutorStats & { slotsUsed: number } {
    const s = this.#executor?.stats ?? { succeeded: 0, failed: 0, retried: 0, deadLettered: 0, skipped: 0, rejected: 0, returned: 0, active: 0 };
    return Object.assign({}, s, { slotsUsed: this.#slots.used });
  }

  #scheduler: Scheduler | undefined;
  /** The scheduler's counters (undefined when this node runs none). */
  schedulerStats(): SchedulerStats | undefined {
    return this.#scheduler?.stats();
  }

  /** The worker's name (`options.name`). */
  get name(): string {
    return this.options.name;
  }

  /** Tasks running now (`celeriac inspect active`). */
  activeTasks(): ActiveTask[] {
    return this.#executor?.activeTasks() ?? [];
  }

  /** Tasks received and not started yet (`celeriac inspect reserved`). */
  reservedTasks(): ReservedTask[] {
    return this.#executor?.reservedTasks() ?? [];
  }

  /**
   * Delayed tasks as this node's scheduler sees them (`celeriac inspect scheduled` over control):
   * the leader lists the soonest `limit`; a standby (or a node without scheduler) lists none.
   */
  scheduled(limit: number): Promise<ScheduledReport> {
    return scheduledReport(this.#scheduler?.stats(), this.#app.transport(), limit);
  }

  /** Tasks this node can run, with their kind (`celeriac inspect registered`). */
  registered(): Array<{ name: string; kind: 'io' | 'cpu' }> {
    return this.#app.taskNames().map((name) => ({ name, kind: this.#app.taskKind(name) ?? 'io' }));
  }

  /** Queues consumed now. */
  get queues(): readonly string[] {
    return this.#consumers.queues;
  }

  /** Queues consumed, with their delivery settings (`celeriac inspect active-queues`). */
  activeQueues(): ActiveQueue[] {
    return activeQueuesReport(this.#consumers.queues, this.#app.transport(), (q) => this.#consumers.pausedUntil(q));
  }

  /** The node at a glance (`celeriac inspect stats`). */
  statsReport(): Record<string, unknown> {
    return workerStatsReport({
      options: this.options,
      state: this.#state,
      startedAt: this.#startedAt,
      queues: this.#consumers.queues,
      slots: this.#slots,
      running: this.#executor?.active ?? 0,
      cpu: this.#cpu.pool?.stats(),
      tasks: this.stats(),
      timeLimits: this.#executor?.timeLimits() ?? {},
      events: this.eventsEnabled,
      security: this.#app.security ?? null,
      scheduler: this.#scheduler?.stats(),
    });
  }

  /**
   * Override a task's time limits on this node (`celeriac control time-limit`); `null` = no limit
   * of that kind, `hardMs` `undefined` = the task's own hard limit. Limits given with a call still win.
   */
  setTimeLimit(task: string, limits: { softMs: number | null; hardMs?: number | null }): void {
    if (!this.#executor) throw new ClosedError('the worker node is not running');
    this.#executor.setTimeLimit(task, limits);
  }

  /** Warm shutdown on request (`celeriac control shutdown`): begins after the reply went out. */
  requestShutdown(): void {
    this.logger.warn('shutdown requested by remote control: warm shutdown');
    setTimeout(() => void this.stop().catch((err: unknown) => this.logger.error('shutdown failed', { error: err })), 50);
  }

  /** Called once the node has stopped (by `stop()`, `kill()` or a remote `shutdown`; a failure is reported by `onFatal`). */
  onStopped(listener: () => void): () => void {
    this.#stoppedListeners.add(listener);
    return () => this.#stoppedListeners.delete(listener);
  }

  /**
   * Grow (`delta` > 0) or shrink the async slots (`'io'`, also the prefetch bound) or the CPU threads;
   * resolves with the new size. Nothing running is interrupted: fewer slots take effect as tasks
   * finish, and replaced threads finish their tasks first.
   * @throws InvalidArgumentError when the size would leave 1-100000 slots or 1-1024 threads, or
   *   when the node has no CPU pool.
   */
  async resizePool(pool: 'io' | 'cpu', delta: number): Promise<number> {
    if (pool === 'io') {
      const size = this.#slots.capacity + delta;
      if (size < 1) throw new InvalidArgumentError(`cannot shrink the async slots below 1 (they are ${this.#slots.capacity})`);
      this.#slots.resize(size);
      return size;
    }
    const cpu = this.#cpu.pool;
    if (!cpu) throw new InvalidArgumentError('this worker has no CPU pool (no kind "cpu" tasks, or no tasksModule)');
    // Relative to the size when this resize's turn comes: concurrent requests (autoscale, control) add up.
    return cpu.resizeBy(delta);
  }

  /**
   * Start consuming `queue` (`celeriac control add-consumer`); resolves with the queues consumed now.
   * @throws InvalidArgumentError for a bad queue name.
   */
  async addConsumer(queue: string): Promise<string[]> {
    validateToken(queue, 'queue');
    if (this.#state !== 'running') throw new ClosedError(`the worker node is ${this.#state}`);
    return this.#consumers.add(queue);
  }

  /**
   * Stop consuming `queue` (`celeriac control cancel-consumer`): no more messages are taken from it;
   * those taken run to their end. Resolves with the queues consumed now.
   * @throws InvalidArgumentError when it is the last queue (a worker consumes at least one).
   */
  async cancelConsumer(queue: string): Promise<string[]> {
    return this.#consumers.cancel(queue);
  }

  /** Called when the supervision tree gives up (restart intensity exceeded). */
  onFatal(listener: (err: Error) => void): () => void {
    this.#fatalListeners.add(listener);
    if (this.#onFatalError) listener(this.#onFatalError);
    return () => this.#fatalListeners.delete(listener);
  }

  /** Fault injection for tests and chaos drills: crash the consumer actor of `queue`. */
  crashConsumer(queue: string, error = new Error(`injected crash of consumer ${queue}`)): void {
    this.#consumers.crash(queue, error);
  }

  #onFatal(err: EscalationError): void {
    this.#state = 'failed';
    this.#onFatalError = err;
    this.#tree.failStarts(err);
    void this.#teardown();
    for (const l of this.#fatalListeners) l(err);
  }

  /**
   * Connect, provision, start threads and consumers. Resolves when the node takes tasks.
   * @throws ClosedError when the node was started before, or is stopped while it starts.
   */
  async start(): Promise<void> {
    if (this.#state !== 'idle') throw new ClosedError(`worker node already ${this.#state}`);
    try {
      await this.#start();
    } catch (err) {
      // A stop() during start() tears the tree down under it: say that, not what failed next.
      const state = this.#state as WorkerState; // not narrowed: stop() may have changed it meanwhile
      if (state === 'draining' || state === 'stopped') {
        throw new ClosedError(`worker ${this.options.name} was stopped while it was starting`, { cause: err });
      }
      throw err;
    }
  }

  async #start(): Promise<void> {
    const app = this.#app;
    const security = app.security ?? null;
    if (security && !security.canSign) {
      throw new InvalidArgumentError('a worker of an app that signs its messages needs options.security.signingKey: it re-signs the retries and workflow steps it publishes');
    }
    this.#state = 'starting';
    this.#keepAlive = setInterval(() => undefined, 1 << 30);
    const transport = app.transport();
    const log = this.logger;
    const tree = this.#tree;
    const consumers = this.#consumers;
    if (security) log.info('message signing on: unsigned, forged, expired and replayed messages are refused', security.describe());
    this.#events = new EventEmitter(transport, app.name, this.options.name, this.options.events);
    const events = this.#events;
    this.#metrics = createWorkerMetrics({
      worker: this.options.name,
      // Tasks running (each holds a slot), not slots reserved by an open fetch (an idle node holds them all).
      ioSlotsInUse: () => this.#executor?.active ?? 0,
      cpuThreadsBusy: () => this.#cpu.pool?.stats().busy ?? 0,
      cpuThreadsRecycled: () => this.#cpu.pool?.stats().recycled ?? 0,
      deadLetters: () => app.deadLetterStore().then((d) => d.count()),
      queues: async () => (await transport.queueStats()).filter((q) => consumers.consumes(q.queue)),
    });

    await tree.spawn('connection', connectionActor(app, transport, log));
    const opened: Partial<WorkerStores> = {};
    await tree.spawn('results', storesActor(app, opened));
    const stores = opened as WorkerStores;

    const mostSlots = this.options.autoscale?.max ?? this.options.concurrency;
    if (transport.kind === 'nats' && mostSlots > app.options.maxAckPending) {
      log.warn(
        `only ${app.options.maxAckPending} of the ${mostSlots} slots can be filled from one queue: the broker delivers at most maxAckPending ` +
          'unacknowledged messages per queue (across all workers); raise createApp({ maxAckPending }) to use them',
        { concurrency: mostSlots, maxAckPending: app.options.maxAckPending },
      );
    }
    const cpuTasks = app.taskNames().filter((n) => app.taskKind(n) === 'cpu');
    if (cpuTasks.length > 0 && !this.options.tasksModule) {
      log.warn('CPU tasks will run on the event loop: no tasksModule given for the thread pool', { tasks: cpuTasks.join(',') });
    }
    if (cpuTasks.length > 0 && this.options.tasksModule) await tree.spawn('cpu-pool', this.#cpu.actor());

    const writer = await tree.spawn('result-writer', resultWriterActor({ maxInFlight: 256, logger: log }), 1024);
    this.#executor = createWorkerExecutor({
      app,
      options: this.options,
      transport,
      stores,
      writer,
      events,
      metrics: this.#metrics,
      logger: log,
      slots: this.#slots,
      cpu: this.#cpu,
      hasCpuTasks: cpuTasks.length > 0,
    });

    const executor = this.#executor;
    // The async slots: the executor runs io tasks in slots bounded by the SlotPool; this actor owns
    // its periodic duty (working() heartbeats for long tasks).
    await tree.spawn('slots', () => ({
      start: () => executor.startHeartbeats(),
      receive() {},
      stop: () => executor.close(),
    }));

    // Revocations: the set is loaded, then followed; a revoke of a running task reaches it here.
    await tree.spawn('revocations', revocationsActor({ revocations: stores.revocations, executor, transport, logger: log }));
    // Backstop: a message the broker gave up on (its worker died on the last delivery) is moved
    // to the dead-letter stream by one of the workers.
    await tree.spawn(
      'dead-letter-backstop',
      deadLetterBackstopActor({
        transport,
        deadLetters: stores.deadLetters,
        backend: stores.backend,
        worker: this.options.name,
        appName: app.name,
        findDefinition: (name) => app.taskDefinition(name),
        logger: log,
      }),
    );

    if (this.options.scheduler) {
      const holder = `${this.options.name}:${process.pid}:${Math.random().toString(36).slice(2, 8)}`;
      const leaseMs = this.options.schedulerLeaseMs;
      await tree.spawn(
        'scheduler',
        schedulingActor(app, { holder, leaseMs, logger: log }, (scheduler) => {
          this.#scheduler = scheduler;
        }),
      );
    }

    await consumers.spawnAll();
    // The worker registry (heartbeats in `<app>-workers`) and the run-time events switch (key
    // `events` of `<app>-control`).
    const registry = await app.keyValue('workers');
    const control = await app.keyValue('control');
    const started = Date.now();
    const executorRef = executor;
    await tree.spawn(
      'registry',
      workerRegistryActor({
        store: registry,
        events,
        logger: log,
        record: () => ({
          name: this.options.name,
          host: hostname(),
          pid: process.pid,
          queues: [...consumers.queues],
          concurrency: this.#slots.capacity,
          cpuThreads: this.#cpu.pool?.threads ?? this.options.cpuThreads,
          startedAt: started,
          heartbeatMs: this.options.heartbeatMs,
          active: executorRef.active,
          succeeded: executorRef.stats.succeeded,
          failed: executorRef.stats.failed,
          retried: executorRef.stats.retried,
          events: events.enabled,
        }),
      }),
    );
    this.#offControl = await followEventsSwitch(control, (enabled) => this.setEvents(enabled));
    // Remote control: answers `<app>.control` requests addressed to this node.
    const verify = security?.requireSignedControl ? security.verifyControl.bind(security) : undefined;
    await tree.spawn('control', controlResponderActor({ app: app.name, transport, target: this, logger: log, ...(verify ? { verify } : {}) }));
    const autoscale = this.options.autoscale;
    if (autoscale) {
      await tree.spawn(
        'autoscaler',
        autoscalerActor({
          io: autoscale,
          cpu: { min: 1, max: this.options.cpuThreads },
          keepaliveMs: autoscale.keepaliveMs,
          logger: log,
          target: {
            // Running tasks, not slots held by open fetches (which hold every free slot while idle).
            io: () => ({ size: this.#slots.capacity, used: this.#executor?.active ?? 0 }),
            cpu: () => {
              const st = this.#cpu.pool?.stats();
              return st ? { size: st.threads, busy: st.busy, queued: st.queued } : null;
            },
            backlog: async () => {
              let n = 0;
              for (const st of await transport.queueStats()) if (consumers.consumes(st.queue)) n += st.depth;
              return n;
            },
            resizePool: (pool, delta) => this.resizePool(pool, delta),
          },
        }),
      );
    }
    await app.middleware.start(this);
    void this.#metrics?.refresh();
    this.#startedAt = Date.now();
    if (this.#state === 'starting') this.#state = 'running';
    app.middleware.notifyWorker('workerReady', this);
  }

  #events: EventEmitter | undefined;
  #metrics: WorkerMetrics | null = null;
  #offControl: (() => void) | undefined;

  /** Turn task and worker events on or off (also `app.control.events(enabled)` for every node). */
  setEvents(enabled: boolean): void {
    if (this.#events && this.#events.enabled !== enabled) {
      this.#events.enabled = enabled;
      this.logger.info(`events ${enabled ? 'enabled' : 'disabled'}`);
    }
  }

  /**
   * Publish a worker event of a plugin (e.g. the circuit breaker's `circuit-changed`) on
   * `<app>.events.worker`, if events are on.
   */
  emitEvent(type: 'circuit-changed', fields: Record<string, unknown>): void {
    this.#events?.emit(type, null, null, fields);
  }

  /** True when this node publishes events. */
  get eventsEnabled(): boolean {
    return this.#events?.enabled ?? this.options.events;
  }

  /**
   * Stop fetching from `queue` until `untilMs` (epoch ms), e.g. while every task of the queue is
   * behind an open circuit breaker; tasks already taken run on. A later call replaces the time;
   * {@link resumeQueue} ends it early.
   */
  pauseQueue(queue: string, untilMs: number): void {
    this.#consumers.pause(queue, untilMs);
  }

  /** Fetch from `queue` again. */
  resumeQueue(queue: string): void {
    this.#consumers.resume(queue);
  }

  /** The app this node runs (for middleware). */
  get app(): WorkerApp {
    return this.#app;
  }

  /**
   * Warm shutdown: stop intake, let in-flight tasks finish within the grace period, then abort
   * their signals and hand the rest back to the broker (redelivered at once).
   * @param graceMs overrides `options.grace`; 0 = cold shutdown.
   */
  async stop(graceMs = this.options.graceMs): Promise<void> {
    if (this.#state === 'stopped' || this.#state === 'draining') return;
    const wasRunning = this.#state === 'running' || this.#state === 'starting';
    this.#state = 'draining';
    if (wasRunning) this.#app.middleware.notifyWorker('workerShutdown', this);
    // 1. stop intake: consumers close their subscriptions (undelivered credit is dropped)
    await this.#consumers.drainAll();
    // 2. let in-flight tasks finish
    if (wasRunning && this.#executor && this.#executor.active > 0) await drainInFlight(this.#executor, graceMs, this.logger);
    await this.#teardown();
    this.#state = 'stopped';
    for (const l of this.#stoppedListeners) l();
  }

  /** Cold shutdown: hand every in-flight task back at once and stop. */
  async kill(): Promise<void> {
    if (this.#state !== 'draining') return this.stop(0);
    // A warm stop is under way (the second signal): make sure intake is stopped, then hand back
    // what runs; the warm stop, no longer waiting, finishes the teardown.
    const stopped = new Promise<void>((resolve) => this.onStopped(resolve));
    await this.#consumers.drainAll();
    this.#executor?.abortAll(new ClosedError('worker killed'));
    await this.#executor?.returnAll();
    await stopped;
  }

  async #teardown(): Promise<void> {
    this.#offControl?.();
    this.#metrics?.close();
    await this.#app.middleware.stop(this);
    await this.#tree.stop();
    await this.#cpu.closeQuarantine();
    clearInterval(this.#keepAlive);
  }
}
