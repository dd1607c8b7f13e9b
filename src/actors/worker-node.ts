import { ClosedError, type EscalationError, InvalidArgumentError } from '../errors.ts';
import type { AttemptLedger } from '../results/attempt-ledger.ts';
import type { Revocations } from '../results/revocations.ts';
import type { DeadLetterStore, IncomingMessage } from '../transport/transport.ts';
import type { Scheduler, SchedulerStats } from './scheduler.ts';
import { type Scheduling, createScheduling } from './scheduling.ts';
import { CpuPool } from '../execution/cpu-pool.ts';
import { Executor, type ExecutorStats } from '../execution/executor.ts';
import { SlotPool } from '../execution/slot-pool.ts';
import type { ResultBackend, WriteOutcome } from '../results/result-backend.ts';
import { createLogger, type Logger } from '../util/logger.ts';
import { type ConsumerMsg, consumerActor } from './consumer-actor.ts';
import { hostname, loadavg } from 'node:os';
import { EventEmitter } from '../execution/event-emitter.ts';
import { workerRegistryActor } from './worker-registry.ts';
import { type WorkerMetrics, createWorkerMetrics } from '../telemetry/metrics.ts';
import { deadLetterBackstopActor } from './dead-letter-backstop-actor.ts';
import { revocationsActor } from './revocations-actor.ts';
import { type ControlTarget, controlResponderActor } from './control-responder.ts';
import { autoscalerActor } from './autoscaler.ts';
import { validateToken } from '../protocol/names.ts';
import type { ActiveTask, ReservedTask } from '../execution/executor.ts';
import { type ResultWriteMsg, resultWriterActor } from './result-writer-actor.ts';
import { type ActorBehavior, type ActorRef, Supervisor, type SupervisorEvent } from './kernel/index.ts';
import { type ResolvedWorkerOptions, type WorkerOptions, resolveWorkerOptions } from './worker-options.ts';
import { type WorkerApp, followEventsSwitch } from './worker-app.ts';
import { type ActiveQueue, type ScheduledReport, activeQueuesReport, scheduledReport } from './worker-reports.ts';

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
  readonly #root: Supervisor;
  readonly #slots: SlotPool;
  #executor: Executor | undefined;
  #cpuPool: CpuPool | undefined;
  #state: WorkerState = 'idle';
  readonly #consumers = new Map<string, ActorRef<ConsumerMsg>>();
  /** Queues consumed now (`add-consumer` / `cancel-consumer` change it). */
  readonly #queues: string[] = [];
  readonly #stoppedListeners = new Set<() => void>();
  #startedAt = 0;
  readonly #startWaiters = new Map<string, { resolve(): void; reject(e: unknown): void }>();
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
    this.#queues.push(...this.options.queues);
    this.#root = new Supervisor(`worker:${this.options.name}`, {
      maxRestarts: this.options.maxRestarts,
      withinMs: this.options.restartWindowMs,
      onEvent: (e) => this.#onSupervisorEvent(e),
      onFatal: (err) => this.#onFatal(err),
    });
  }

  /** Current lifecycle state. */
  get state(): WorkerState {
    return this.#state;
  }

  /** Counters of the executor (succeeded, failed, retried, dead-lettered, ...) and slots in use. */
  stats(): ExecutorStats & { slotsUsed: number } {
    const s = this.#executor?.stats ?? { succeeded: 0, failed: 0, retried: 0, deadLettered: 0, skipped: 0, rejected: 0, returned: 0, active: 0 };
    return { ...s, slotsUsed: this.#slots.used };
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
    return this.#queues;
  }

  /** Queues consumed, with their delivery settings (`celeriac inspect active-queues`). */
  activeQueues(): ActiveQueue[] {
    return activeQueuesReport(this.#queues, this.#app.transport(), (q) => this.#paused.get(q) ?? 0);
  }

  /** The node at a glance (`celeriac inspect stats`). */
  statsReport(): Record<string, unknown> {
    const mem = process.memoryUsage();
    const cpu = this.#cpuPool?.stats();
    return {
      name: this.options.name,
      host: hostname(),
      pid: process.pid,
      state: this.#state,
      uptimeMs: this.#startedAt ? Date.now() - this.#startedAt : 0,
      queues: [...this.#queues],
      pool: {
        // running: tasks holding a slot; held: slots taken, including those reserved by open fetches.
        io: { size: this.#slots.capacity, running: this.#executor?.active ?? 0, held: this.#slots.used },
        cpu: cpu
          ? {
              size: cpu.threads,
              started: cpu.started,
              busy: cpu.busy,
              queued: cpu.queued,
              recycled: cpu.recycled,
              maxTasksPerThread: this.options.maxTasksPerThread || null,
              maxMemoryPerThreadMb: this.options.maxMemoryPerThreadMb || null,
            }
          : null,
        autoscale: this.options.autoscale,
      },
      prefetchBound: this.#slots.capacity,
      tasks: this.stats(),
      timeLimits: this.#executor?.timeLimits() ?? {},
      events: this.eventsEnabled,
      // Messages refused by the signature checks, by reason (ADR 0010); null when signing is off.
      security: this.#app.security ? { rejected: { ...this.#app.security.rejected } } : null,
      scheduler: this.#scheduler?.stats() ?? null,
      rssBytes: mem.rss,
      heapUsedBytes: mem.heapUsed,
      loadAverage: loadavg(),
    };
  }

  /**
   * Override a task's time limits on this node (`celeriac control time-limit`); `null` = no limit
   * of that kind. Limits given with a call still win.
   */
  setTimeLimit(task: string, limits: { softMs: number | null; hardMs: number | null }): void {
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
    const cpu = this.#cpuPool;
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
    if (!this.#consumers.has(queue)) {
      const others = [...this.#consumers.values()];
      this.#queues.push(queue);
      try {
        await this.#spawnConsumer(queue);
      } catch (err) {
        this.#queues.splice(this.#queues.indexOf(queue), 1);
        throw err;
      }
      // The queues now share the slots: the others hand back what their open pulls hold.
      for (const ref of others) ref.tryTell({ type: 'rebalance' });
      this.logger.info('consuming queue', { queue });
    }
    return [...this.#queues];
  }

  /**
   * Stop consuming `queue` (`celeriac control cancel-consumer`): no more messages are taken from it;
   * those taken run to their end. Resolves with the queues consumed now.
   * @throws InvalidArgumentError when it is the last queue (a worker consumes at least one).
   */
  async cancelConsumer(queue: string): Promise<string[]> {
    const ref = this.#consumers.get(queue);
    if (!ref) return [...this.#queues];
    if (this.#queues.length === 1) throw new InvalidArgumentError(`"${queue}" is the only queue of this worker; stop the worker instead`);
    this.#consumers.delete(queue);
    this.#queues.splice(this.#queues.indexOf(queue), 1);
    await new Promise<void>((resolve) => {
      if (!ref.tryTell({ type: 'drain', done: resolve })) resolve();
    });
    await this.#root.stopChild(`consumer:${queue}`);
    // The last queue no longer shares the slots: it goes back to pipelined pulls.
    if (this.#queues.length === 1) for (const other of this.#consumers.values()) other.tryTell({ type: 'rebalance' });
    this.logger.info('stopped consuming queue', { queue });
    return [...this.#queues];
  }

  async #spawnConsumer(queue: string): Promise<void> {
    const transport = this.#app.transport();
    const ref = await this.#spawn(
      `consumer:${queue}`,
      consumerActor({
        queue,
        transport,
        slots: this.#slots,
        executor: this.#executor as Executor,
        logger: this.logger,
        maxBatch: Math.min(this.options.autoscale?.max ?? this.options.concurrency, 256),
        maxOutstanding: 4,
        shared: () => this.#queues.length > 1,
        pausedUntil: () => this.#paused.get(queue) ?? 0,
        bands: transport.queueSettings(queue).priorities ? [`${queue}--hi`, queue, `${queue}--lo`] : undefined,
      }),
    );
    this.#consumers.set(queue, ref);
  }

  /** Called when the supervision tree gives up (restart intensity exceeded). */
  onFatal(listener: (err: Error) => void): () => void {
    this.#fatalListeners.add(listener);
    if (this.#onFatalError) listener(this.#onFatalError);
    return () => this.#fatalListeners.delete(listener);
  }

  /** Fault injection for tests and chaos drills: crash the consumer actor of `queue`. */
  crashConsumer(queue: string, error = new Error(`injected crash of consumer ${queue}`)): void {
    const ref = this.#consumers.get(queue);
    if (!ref) throw new ClosedError(`no consumer for queue "${queue}"`);
    ref.tell({ type: 'crash', error });
  }

  #onSupervisorEvent(e: SupervisorEvent): void {
    const w = this.#startWaiters.get(e.child);
    if (e.type === 'child-started') {
      if (w) {
        this.#startWaiters.delete(e.child);
        w.resolve();
      }
      if (e.attempt > 1) this.logger.info('actor restarted', { actor: e.child, attempt: e.attempt });
    } else if (e.type === 'child-crashed') {
      // A start that cannot succeed is retried with back-off; when the intensity runs out, #onFatal
      // rejects start() with the EscalationError (its cause is this error).
      this.logger.error('actor crashed', { actor: e.child, attempt: e.attempt, restartInMs: e.delayMs, error: e.error });
    } else if (e.type === 'escalated') {
      this.logger.error('supervisor gave up', { supervisor: e.supervisor, actor: e.child, error: e.error });
    }
  }

  #onFatal(err: EscalationError): void {
    this.#state = 'failed';
    this.#onFatalError = err;
    for (const w of this.#startWaiters.values()) w.reject(err);
    this.#startWaiters.clear();
    void this.#teardown();
    for (const l of this.#fatalListeners) l(err);
  }

  #spawn<M>(name: string, factory: () => ActorBehavior<M>, mailboxCapacity = 64): Promise<ActorRef<M>> {
    const started = new Promise<void>((resolve, reject) => this.#startWaiters.set(name, { resolve, reject }));
    const ref = this.#root.spawn(name, factory, { mailboxCapacity });
    return started.then(() => ref);
  }

  /** Connect, provision, start threads and consumers. Resolves when the node takes tasks. */
  async start(): Promise<void> {
    if (this.#state !== 'idle') throw new ClosedError(`worker node already ${this.#state}`);
    const app = this.#app;
    const security = app.security ?? null;
    if (security && !security.canSign) {
      throw new InvalidArgumentError('a worker of an app that signs its messages needs options.security.signingKey: it re-signs the retries and workflow steps it publishes');
    }
    this.#state = 'starting';
    this.#keepAlive = setInterval(() => undefined, 1 << 30);
    const transport = app.transport();
    const log = this.logger;
    if (security) log.info('message signing on: unsigned, forged, expired and replayed messages are refused', security.describe());
    this.#events = new EventEmitter(transport, app.name, this.options.name, this.options.events);
    const events = this.#events;
    this.#metrics = createWorkerMetrics({
      worker: this.options.name,
      // Tasks running (each holds a slot), not slots reserved by an open fetch (an idle node holds them all).
      ioSlotsInUse: () => this.#executor?.active ?? 0,
      cpuThreadsBusy: () => this.#cpuPool?.stats().busy ?? 0,
      cpuThreadsRecycled: () => this.#cpuPool?.stats().recycled ?? 0,
      deadLetters: () => app.deadLetterStore().then((d) => d.count()),
      queues: async () => (await transport.queueStats()).filter((q) => this.#queues.some((mine) => q.queue === mine || q.queue.startsWith(`${mine}--`))),
    });
    let backend: ResultBackend | undefined;
    let ledger: AttemptLedger | undefined;
    let deadLetters: DeadLetterStore | undefined;
    let revocations: Revocations | undefined;

    await this.#spawn('connection', () => {
      let off: (() => void) | undefined;
      return {
        async start() {
          const offWarn = app.onWarning((m) => log.warn(m));
          off = offWarn;
          await transport.connect();
          const offStatus = transport.onStatus((s, detail) => {
            if (s === 'connected') log.info('broker connection restored', { server: detail });
            else if (s === 'disconnected') log.warn('broker connection lost; reconnecting', { server: detail });
          });
          off = () => {
            offWarn();
            offStatus();
          };
        },
        receive() {},
        stop() {
          off?.();
        },
      };
    });

    await this.#spawn('results', () => ({
      async start() {
        backend = await app.resultBackend();
        ledger = await app.attemptLedger();
        deadLetters = await app.deadLetterStore();
        revocations = await app.revocations();
      },
      receive() {},
    }));

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
    if (cpuTasks.length > 0 && this.options.tasksModule) {
      const { maxTasksPerThread, maxMemoryPerThreadMb } = this.options;
      const poolOptions = {
        threads: this.options.cpuThreads,
        lazy: this.options.cpuStart === 'lazy',
        moduleUrl: this.options.tasksModule,
        appName: app.name,
        logger: log,
        ...(maxTasksPerThread > 0 ? { maxTasksPerThread } : {}),
        ...(maxMemoryPerThreadMb > 0 ? { maxMemoryPerThreadMb } : {}),
      };
      await this.#spawn('cpu-pool', () => {
        let pool: CpuPool | undefined;
        return {
          start: async () => {
            pool = new CpuPool(poolOptions);
            await pool.start();
            this.#cpuPool = pool;
          },
          receive() {},
          stop: async () => {
            await pool?.close();
          },
        };
      });
    }

    const writer = await this.#spawn('result-writer', resultWriterActor({ maxInFlight: 256, logger: log }), 1024);
    const writeResult = (handle: ResultWriteMsg['handle'], record: ResultWriteMsg['record']) =>
      new Promise<WriteOutcome>((resolve, reject) => {
        writer.send({ handle, record, resolve, reject }).catch(reject);
      });

    // The executor reaches the pool through a proxy, so a restarted pool actor is picked up.
    this.#executor = new Executor({
      writeResult,
      queueSettings: (q) => transport.queueSettings(q),
      maxCrashes: app.options.maxCrashes,
      maxPayloadBytes: app.options.maxPayloadBytes,
      deadLetters: deadLetters as DeadLetterStore,
      ledger: ledger as AttemptLedger,
      revocations: revocations as Revocations,
      // What a worker re-publishes (retries, deferrals, eta hand-overs) is re-signed (ADR 0010).
      republish: (queue, task) => transport.publish(queue, security ? security.signTask(queue, task) : task),
      publishDelayed: (queue, task) => transport.publishDelayed(queue, security ? security.signTask(queue, task) : task),
      ...(security ? { authenticate: (m: IncomingMessage) => security.authenticateTask(m) } : {}),
      timeLimitMs: this.options.timeLimitMs,
      softTimeLimitMs: this.options.softTimeLimitMs,
      notifyResult: (replyTo, taskId, record) => transport.notify(replyTo, { id: taskId }, app.codec.encode(record)),
      continuation: (task, record, queue) => app.workflowContinuation(task, record, queue),
      middleware: app.middleware,
      events: this.#events,
      metrics: this.#metrics,
      appName: app.name,
      hostname: this.options.name,
      backend: backend as ResultBackend,
      logger: log,
      trackStarted: app.options.trackStarted,
      ackWaitMs: app.options.ackWaitMs,
      debug: log.enabled?.('debug') ?? false,
      onSettled: () => this.#slots.release(1),
      cpuPool: cpuTasks.length > 0 && this.options.tasksModule ? { run: (...a) => this.#requirePool().run(...a) } : undefined,
      quarantine: this.options.tasksModule ? { run: (...a) => this.#quarantinePool().then((p) => p.run(...a)) } : undefined,
    });

    const executor = this.#executor;
    // The async slots: the executor runs io tasks in slots bounded by the SlotPool; this actor owns
    // its periodic duty (working() heartbeats for long tasks).
    await this.#spawn('slots', () => ({
      start: () => executor.startHeartbeats(),
      receive() {},
      stop: () => executor.close(),
    }));

    // Revocations: the set is loaded, then followed; a revoke of a running task reaches it here.
    await this.#spawn('revocations', revocationsActor({ revocations: revocations as Revocations, executor, transport, logger: log }));
    // Backstop: a message the broker gave up on (its worker died on the last delivery) is moved
    // to the dead-letter stream by one of the workers.
    await this.#spawn(
      'dead-letter-backstop',
      deadLetterBackstopActor({
        transport,
        deadLetters: deadLetters as DeadLetterStore,
        backend: backend as ResultBackend,
        worker: this.options.name,
        appName: app.name,
        logger: log,
      }),
    );

    if (this.options.scheduler) {
      const holder = `${this.options.name}:${process.pid}:${Math.random().toString(36).slice(2, 8)}`;
      const leaseMs = this.options.schedulerLeaseMs;
      await this.#spawn('scheduler', () => {
        let scheduling: Scheduling | undefined;
        return {
          start: async () => {
            scheduling = await createScheduling(app, { holder, leaseMs, logger: log });
            this.#scheduler = scheduling.scheduler;
            await scheduling.start();
          },
          receive() {},
          stop: async () => {
            await scheduling?.stop();
          },
        };
      });
    }

    for (const queue of [...this.#queues]) await this.#spawnConsumer(queue);
    // The worker registry (heartbeats in `<app>-workers`) and the run-time events switch (key
    // `events` of `<app>-control`).
    const registry = await app.keyValue('workers');
    const control = await app.keyValue('control');
    const started = Date.now();
    const executorRef = executor;
    await this.#spawn(
      'registry',
      workerRegistryActor({
        store: registry,
        events,
        logger: log,
        record: () => ({
          name: this.options.name,
          host: hostname(),
          pid: process.pid,
          queues: [...this.#queues],
          concurrency: this.#slots.capacity,
          cpuThreads: this.#cpuPool?.threads ?? this.options.cpuThreads,
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
    await this.#spawn('control', controlResponderActor({ app: app.name, transport, target: this, logger: log, ...(verify ? { verify } : {}) }));
    const autoscale = this.options.autoscale;
    if (autoscale) {
      await this.#spawn(
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
              const st = this.#cpuPool?.stats();
              return st ? { size: st.threads, busy: st.busy, queued: st.queued } : null;
            },
            backlog: async () => {
              let n = 0;
              for (const st of await transport.queueStats()) if (this.#queues.some((q) => st.queue === q || st.queue.startsWith(`${q}--`))) n += st.depth;
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

  readonly #paused = new Map<string, number>();

  /**
   * Stop fetching from `queue` until `untilMs` (epoch ms), e.g. while every task of the queue is
   * behind an open circuit breaker; tasks already taken run on. A later call replaces the time;
   * {@link resumeQueue} ends it early.
   */
  pauseQueue(queue: string, untilMs: number): void {
    this.#paused.set(queue, untilMs);
  }

  /** Fetch from `queue` again. */
  resumeQueue(queue: string): void {
    this.#paused.delete(queue);
  }

  /** The app this node runs (for middleware). */
  get app(): WorkerApp {
    return this.#app;
  }

  #quarantine: Promise<CpuPool> | undefined;
  /**
   * Two threads, started on first use, where a task that reached `maxCrashes` runs alone: if it
   * kills its thread (process.exit, out of memory within the thread's limit) the worker survives
   * and the task is dead-lettered; a bystander of other crashes simply completes.
   */
  #quarantinePool(): Promise<CpuPool> {
    const moduleUrl = this.options.tasksModule;
    if (!moduleUrl) return Promise.reject(new ClosedError('no tasksModule: no quarantine threads'));
    this.#quarantine ??= (async () => {
      const pool = new CpuPool({
        threads: 2,
        moduleUrl,
        appName: this.#app.name,
        logger: this.logger,
        resourceLimits: { maxOldGenerationSizeMb: 1024 },
      });
      this.logger.warn('starting quarantine threads for tasks that were in flight on crashed workers', { threads: 2 });
      await pool.start();
      return pool;
    })().catch((err) => {
      this.#quarantine = undefined;
      throw err;
    });
    return this.#quarantine;
  }

  #requirePool(): CpuPool {
    if (!this.#cpuPool) throw new ClosedError('the CPU pool is restarting');
    return this.#cpuPool;
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
    await this.#stopConsumers();
    // 2. let in-flight tasks finish
    if (wasRunning && this.#executor && this.#executor.active > 0) {
      this.logger.info('warm shutdown: waiting for tasks in flight', { active: this.#executor.active, graceMs });
      const idle = await this.#waitIdle(graceMs);
      if (!idle) {
        this.logger.warn('grace period over: aborting and returning unfinished tasks to the queue', { active: this.#executor.active });
        this.#executor.abortAll(new ClosedError('worker shutting down'));
        await this.#executor.returnAll();
      }
    }
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
    await this.#stopConsumers();
    this.#executor?.abortAll(new ClosedError('worker killed'));
    await this.#executor?.returnAll();
    await stopped;
  }

  async #waitIdle(ms: number): Promise<boolean> {
    const deadline = Date.now() + ms;
    while (this.#executor && this.#executor.active > 0) {
      if (Date.now() >= deadline) return false;
      await new Promise((r) => setTimeout(r, 20));
    }
    return true;
  }

  async #stopConsumers(): Promise<void> {
    await Promise.all(
      [...this.#consumers.values()].map(
        (ref) =>
          new Promise<void>((resolve) => {
            if (!ref.tryTell({ type: 'drain', done: resolve })) resolve();
          }),
      ),
    );
  }

  async #teardown(): Promise<void> {
    this.#offControl?.();
    this.#metrics?.close();
    await this.#app.middleware.stop(this);
    await this.#root.stop();
    const q = this.#quarantine;
    this.#quarantine = undefined;
    if (q) await q.then((p) => p.close()).catch(() => undefined);
    clearInterval(this.#keepAlive);
  }
}
