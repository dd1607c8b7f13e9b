/**
 * `createApp()` and the {@link App} it returns: the facade over the task and schedule registries,
 * the lazily opened connection, publishing, workflows, workers and the operations views.
 * @module
 */
import { InvalidArgumentError } from '../errors.ts';
import { type Codec, codecByName } from '../protocol/codec.ts';
import { validateTaskName, validateToken } from '../protocol/names.ts';
import { type Duration, parseDuration } from '../util/duration.ts';
import type { AttemptLedger } from '../results/attempt-ledger.ts';
import type { Revocations } from '../results/revocations.ts';
import type { DeadLetterStore, KeyValueStore, QueueStats } from '../transport/transport.ts';
import type { DeadLetterQueue } from './dead-letter-queue.ts';
import type { ResolvedSchedule, ScheduleOptions } from '../actors/beat-schedule.ts';
import { AsyncResult } from '../results/async-result.ts';
import type { ResultBackend } from '../results/result-backend.ts';
import type { TaskDefinition, TaskFn } from '../execution/task-definition.ts';
import type { Transport } from '../transport/transport.ts';
import { WorkerNode } from '../actors/worker-node.ts';
import type { WorkerInfo } from '../actors/worker-registry.ts';
import type { CeleriacEvent } from '../execution/event-emitter.ts';
import type { Control } from './app-control.ts';
import { type SubscribeEventsOptions, subscribeEvents } from './app-events.ts';
import type { WorkerOptions } from '../actors/worker-options.ts';
import { type AppOptions, type ResolvedAppOptions, resolveAppOptions } from './app-options.ts';
import { MessageSecurity } from './message-security.ts';
import type { PublishExtra, PublishRequest } from './publish.ts';
import { Publisher } from './publisher.ts';
import { AppConnection } from './app-connection.ts';
import { AppOperations, type ScheduledTask } from './app-operations.ts';
import { ScheduleRegistry, slotApplyOptions } from './schedule-registry.ts';
import { TaskRegistry } from './task-registry.ts';
import { WarningChannel } from './warning-channel.ts';
import type { Task, TaskPublisher } from './task.ts';
import { registerBuiltins } from './builtins.ts';
import { type Middleware, MiddlewareStack, type SignalEvent, type SignalName, validateMiddleware } from './middleware.ts';
import { WorkflowRuntime } from './workflow-runtime.ts';
import { resultTree } from '../canvas/result-tree.ts';
import { Signature, type SignatureOptions, type Workflow, workflowFromJSON } from '../canvas/signature.ts';
import type { Continuation } from '../execution/executor.ts';
import type { TaskMessage } from '../protocol/envelope.ts';
import type { WorkflowJSON } from '../protocol/workflow-json.ts';
import type { ChordJoins } from '../results/chord-join.ts';
import type { GroupResult } from '../results/group-result.ts';
import type { ResultRecord } from '../results/states.ts';
import { type ApplyOptions, type ResolvedTaskOptions, type TaskOptions, resolveTaskOptions } from './task-options.ts';

const APP_BRAND = Symbol.for('celeriac.App');

export { RATE_LIMIT_KEY_PREFIX } from './app-control.ts';

/**
 * A Celeriac application: the task registry plus a lazily opened broker connection. Importing a
 * module that creates an app and registers tasks opens no connection; the first publish, result
 * read or worker start does.
 */
export class App implements TaskPublisher {
  #options: Readonly<ResolvedAppOptions>;
  readonly #tasks = new TaskRegistry(this);
  #codec: Codec;
  readonly #conn = new AppConnection(this, (msg) => this.#warn(msg));
  readonly #ops = new AppOperations(this);
  readonly #backendFn = (): Promise<ResultBackend> => this.resultBackend();

  #given: AppOptions;

  /** @internal use {@link createApp}. */
  constructor(options: AppOptions) {
    this.#given = { ...options };
    this.#options = Object.freeze(resolveAppOptions(options));
    this.#codec = codecByName(this.options.serializer);
    this.#security = this.#options.security ? new MessageSecurity(this.#options.security) : null;
    Object.defineProperty(this, APP_BRAND, { value: true });
    registerBuiltins(this.#options.name);
    if (options.middleware !== undefined) {
      if (!Array.isArray(options.middleware)) throw new InvalidArgumentError('options.middleware must be an array of middleware');
      this.use(...options.middleware);
    }
  }

  readonly #mw = new MiddlewareStack({ warn: (msg, fields) => this.#warn(`${msg} ${JSON.stringify(fields, (_k, v: unknown) => (v instanceof Error ? v.message : v))}`) });

  /** @internal the app's middleware (the worker node runs it). */
  get middleware(): MiddlewareStack {
    return this.#mw;
  }

  /**
   * Add app-wide middleware, outermost first, after those added before (each one's `setup(app)` is
   * called now). Returns the app.
   * @throws InvalidArgumentError for something that is not a middleware.
   */
  use(...middleware: Middleware[]): this {
    middleware.forEach((m, i) => validateMiddleware(m, `app.use() argument ${i}`));
    for (const m of middleware) {
      this.#mw.add(m);
      m.setup?.(this);
    }
    return this;
  }

  /**
   * Observe signals (`beforePublish`, `afterPublish`, `prerun`, `postrun`, `success`, `failure`,
   * `retry`, `revoked`, `workerReady`, `workerShutdown`); `on()` returns an unsubscribe function.
   * Execution signals fire in the worker process that runs the task.
   * @example
   * app.signals.on('failure', (e) => console.error(`${e.task} ${e.id} failed: ${e.error.message}`));
   */
  get signals(): {
    /** Call `listener` on every `signal`; returns an unsubscribe function. */
    on<K extends SignalName>(signal: K, listener: (event: SignalEvent<K>) => void): () => void;
  } {
    return {
      on: (signal, listener) => {
        if (typeof listener !== 'function') throw new InvalidArgumentError(`signals.on("${signal}", listener): listener must be a function`);
        const m = { name: `signal:${signal}`, [signal]: listener } as unknown as Middleware;
        validateMiddleware(m, `signals.on("${signal}")`);
        this.#mw.add(m);
        return () => this.#mw.remove(m);
      },
    };
  }

  /**
   * Override options before the app is used (the CLI applies environment and flags this way:
   * flags > environment > `createApp` options > defaults).
   * @throws InvalidArgumentError once the app has opened its broker, or for a bad option.
   */
  configure(overrides: AppOptions): void {
    if (this.#conn.inUse) {
      throw new InvalidArgumentError(`app "${this.name}" is already in use; configure() must come before the first publish or worker start`);
    }
    const defined = Object.fromEntries(Object.entries(overrides).filter(([, v]) => v !== undefined)) as AppOptions;
    if (defined.name !== undefined && defined.name !== this.options.name) {
      throw new InvalidArgumentError('configure(): the app name cannot change after tasks are registered');
    }
    this.#given = { ...this.#given, ...defined };
    this.#options = Object.freeze(resolveAppOptions(this.#given));
    this.#codec = codecByName(this.options.serializer);
    this.#security = this.#options.security ? new MessageSecurity(this.#options.security) : null;
  }

  #security: MessageSecurity | null = null;
  /**
   * Message signing of this app (`createApp({ security })`), or null when it is off: `rejected`
   * counts refused messages by reason (docs/guide/message-signing.md).
   */
  get security(): MessageSecurity | null {
    return this.#security;
  }

  /** Resolved options (durations in milliseconds). */
  get options(): Readonly<ResolvedAppOptions> {
    return this.#options;
  }

  /** App name. */
  get name(): string {
    return this.options.name;
  }

  /**
   * Register a task. Types of the arguments and result are inferred from `fn`.
   * @throws InvalidArgumentError for a bad name, a duplicate name, or bad options.
   */
  task<A extends unknown[], R>(name: string, fn: TaskFn<A, R>, options?: TaskOptions): Task<A, Awaited<R>> {
    return this.#tasks.register(name, fn, options);
  }

  readonly #schedules = new ScheduleRegistry();

  /**
   * Register a periodic task ("beat"). The scheduler's leader (in a worker node, or `celeriac beat`)
   * fires each slot once across all processes; the last fired slot is kept in KV (`<app>-beat`).
   * @example
   * app.schedule('cleanup', { task: 'files.cleanup', cron: '0 3 * * *', timezone: 'Europe/Berlin' });
   * app.schedule('heartbeat', { task: 'ops.ping', every: '30s', catchUp: 'skip' });
   * @throws InvalidArgumentError for a bad option or a duplicate name.
   */
  schedule(name: string, options: ScheduleOptions): ResolvedSchedule {
    return this.#schedules.add(name, options);
  }

  /** Registered schedules. */
  schedules(): ResolvedSchedule[] {
    return this.#schedules.list();
  }

  /**
   * When beat fires the schedule `name` next after `after` (default now), with its jitter; null for
   * a cron pattern that never matches again. The same computation beat makes, so a dashboard or a
   * demo can show it.
   * @example app.nextRun('reports.hourly')?.toISOString() // '2026-11-24T09:00:00.000Z'
   * @throws InvalidArgumentError when no schedule has that name.
   */
  nextRun(name: string, after: Date = new Date()): Date | null {
    return this.#schedules.nextRun(name, after);
  }

  /** @internal publish the task of a schedule's slot (task id = dedupe id = the slot's id). */
  async fireSchedule(s: ResolvedSchedule, slotMs: number): Promise<void> {
    await this.sendTask(s.task, s.args, slotApplyOptions(s, slotMs));
  }

  /** @internal last-run state of the schedules (`<app>-beat`). */
  beatStore(): Promise<KeyValueStore> {
    return this.#conn.kv(`${this.name}-beat`, 0);
  }

  /** Registered task names, sorted. */
  taskNames(): string[] {
    return this.#tasks.names();
  }

  /** Kind of a registered task. */
  taskKind(name: string): 'io' | 'cpu' | undefined {
    return this.#tasks.get(name)?.options.kind;
  }

  /** @internal what this app's workers run for `name`: its own registration (undefined for built-ins and unknown names). */
  taskDefinition(name: string): TaskDefinition | undefined {
    return this.#tasks.definition(name);
  }

  /**
   * Create a worker node that consumes this app's queues (start it with `await worker.start()`).
   * @example
   * const worker = app.worker({ concurrency: 16, tasksModule: import.meta.url });
   * await worker.start();
   * // ...
   * await worker.stop();
   */
  worker(options?: WorkerOptions): WorkerNode {
    const node = new WorkerNode(this, options);
    this.#workers.add(node);
    node.onStopped(() => this.#workers.delete(node));
    return node;
  }

  /** Workers made by {@link worker} and not stopped yet: {@link close} stops them first. */
  readonly #workers = new Set<WorkerNode>();

  /** The task registered under `name`, if any. */
  getTask(name: string): Task<never[], unknown> | undefined {
    return this.#tasks.get(name);
  }

  /**
   * Send a task by name (it need not be registered here: a worker elsewhere may know it).
   * @example await app.sendTask('math.add', [2, 3]);
   */
  sendTask<R = unknown>(name: string, args: readonly unknown[] = [], options?: ApplyOptions): Promise<AsyncResult<R>> {
    validateTaskName(name);
    const known = this.#tasks.get(name);
    const taskOptions = known ? known.options : resolveTaskOptions(undefined, this.options.defaultQueue);
    return this.publishTask(name, args, taskOptions, options) as Promise<AsyncResult<R>>;
  }

  readonly #publisher = ((app: App) =>
    new Publisher({
      get name() {
        return app.name;
      },
      get options() {
        return app.options;
      },
      get codec() {
        return app.codec;
      },
      get origin() {
        return app.#conn.origin;
      },
      get middleware() {
        return app.#mw;
      },
      get security() {
        return app.#security;
      },
      transport: () => app.transport(),
      router: () => app.#conn.router(),
      resultBackend: () => app.resultBackend(),
      asyncResult: (id) => app.asyncResult(id),
      knownTask: (name) => app.#tasks.get(name)?.options,
    }))(this);

  /** @internal publish one task (through the publish middleware). */
  publishTask(name: string, args: readonly unknown[], taskOptions: ResolvedTaskOptions, options?: ApplyOptions, extra?: PublishExtra): Promise<AsyncResult<unknown>> {
    return this.#publisher.publishTask(name, args, taskOptions, options, extra);
  }

  /** @internal publish one task per argument list (`task.delayMany`). */
  publishMany(name: string, argsList: ReadonlyArray<readonly unknown[]>, taskOptions: ResolvedTaskOptions, options: ApplyOptions | undefined, window: number): Promise<Array<AsyncResult<unknown>>> {
    return this.#publisher.publishMany(name, argsList, taskOptions, options, window);
  }

  /**
   * @internal publish many tasks (a workflow's first tasks, a worker's continuation): every message
   * is encoded and checked before the first is sent, so bad input publishes nothing; at most 256
   * publishes are in flight.
   */
  publishBatch(items: readonly PublishRequest[]): Promise<void> {
    return this.#publisher.publishBatch(items);
  }

  /**
   * A signature of a task by name (it need not be registered here), or a signature or workflow
   * rebuilt from its wire form (`toJSON()`, JSON from another service).
   * @example
   * const s = app.signature('math.add', [2, 3], { queue: 'math' });
   * const w = app.signature(JSON.parse(text)); // any signature, chain, group or chord
   * @throws InvalidArgumentError for a bad name, option or workflow (naming the field).
   */
  signature(json: WorkflowJSON): Workflow;
  signature<R = unknown>(name: string, args?: readonly unknown[], options?: SignatureOptions): Signature<R>;
  signature(nameOrJson: string | WorkflowJSON, args: readonly unknown[] = [], options?: SignatureOptions): Workflow {
    if (typeof nameOrJson !== 'string') return workflowFromJSON(nameOrJson, this);
    validateTaskName(nameOrJson);
    if (!Array.isArray(args)) throw new InvalidArgumentError(`app.signature("${nameOrJson}", args): args must be an array`);
    const sig = new Signature({ task: nameOrJson, args: [...args] }, this);
    return options ? sig.set(options) : sig;
  }

  #workflows: WorkflowRuntime | undefined;
  #runtime(): WorkflowRuntime {
    this.#workflows ??= new WorkflowRuntime(this);
    return this.#workflows;
  }

  /** @internal freeze and publish a workflow (what `applyAsync()` of a signature or workflow calls). */
  applyWorkflow(w: WorkflowJSON, prepend: readonly unknown[] | null): Promise<WorkflowJSON> {
    return this.#runtime().apply(w, prepend);
  }

  /** @internal the result handles of a frozen workflow. */
  resultsOf(frozen: WorkflowJSON): { final: AsyncResult | GroupResult; tasks: AsyncResult[] } {
    return resultTree(frozen, (id) => this.asyncResult(id));
  }

  /** @internal what a worker does after a task of a workflow finished. */
  workflowContinuation(task: TaskMessage, record: ResultRecord, queue: string): Continuation | null {
    return this.#runtime().continuation(task, record, queue);
  }

  /** @internal chord joins (bucket `<app>-chords`, kept as long as results). */
  chordJoins(): Promise<ChordJoins> {
    return this.#conn.chordJoins();
  }

  /** @internal send a terminal record to a client's reply subject. */
  notifyResult(replyTo: string, taskId: string, record: ResultRecord): void {
    this.#conn.notifyResult(replyTo, taskId, record);
  }

  /** @internal expect routed results for these ids. */
  trackRouted(ids: readonly string[]): void {
    this.#conn.trackRouted(ids);
  }

  /** A handle on the result of task `id`. */
  asyncResult<R = unknown>(id: string): AsyncResult<R> {
    return new AsyncResult<R>(id, this.#backendFn, this.#conn.openRouter, this.#revoker, this.#conn.closedSignal);
  }

  readonly #revoker = (ids: readonly string[], options: { terminate?: boolean }): Promise<void> => this.control.revoke(ids, options);

  /**
   * Remote control of the workers: `inspect()` (ping, active, reserved, scheduled, registered,
   * stats, activeQueues), `timeLimit`, `shutdown`, `poolGrow`/`poolShrink`, `addConsumer`/
   * `cancelConsumer` over NATS request/reply; `revoke(ids, { terminate })`, `rateLimit(task, rate)`,
   * `events(enabled)` through the control bucket (docs/guide/operations.md).
   */
  get control(): Control {
    return this.#ops.control;
  }

  /** The dead-letter stream: `list`, `show`, `replay`, `purge`, `count` (docs/guide/failures.md). */
  get deadLetters(): DeadLetterQueue {
    return this.#ops.deadLetters;
  }

  /** @internal the revoked-ids set (bucket `<app>-revoked`). */
  revocations(): Promise<Revocations> {
    return this.#conn.revocations();
  }

  /**
   * Delayed tasks waiting for their eta, soonest first (at most `limit`, default 100): what
   * `celeriac inspect scheduled` prints. A revoked one stays listed until its eta, `revoked: true`
   * (workers skip it then).
   */
  async scheduled(options: { limit?: number } = {}): Promise<ScheduledTask[]> {
    return this.#ops.scheduled(options.limit ?? 100);
  }

  /**
   * A key-value bucket of this app (`<app>-<name>`, JetStream KV on NATS, in memory on memory://),
   * for plugins that keep state shared by all workers: reads, revision-checked writes
   * (`put(key, value, { expectRevision })` rejects with `RevisionMismatchError`), deletes, watches.
   * Opened once per name.
   * @param options.ttl - entries expire after this long. @defaultValue never
   * @throws InvalidArgumentError for a bad name.
   */
  keyValue(name: string, options: { ttl?: Duration } = {}): Promise<KeyValueStore> {
    validateToken(name, 'keyValue(name)');
    const ttlMs = options.ttl === undefined ? 0 : parseDuration(options.ttl, 'keyValue({ ttl })');
    return this.#conn.kv(`${this.name}-${name}`, ttlMs);
  }

  /**
   * Broker-side facts of the app's queues (depth, in flight, redelivered, waiting pulls, whether a
   * consumer exists): every queue that holds messages or has a consumer, or only `queue`.
   * @example
   * for (const q of await app.queueStats()) console.log(q.queue, q.depth);
   */
  queueStats(queue?: string): Promise<QueueStats[]> {
    return this.transport().queueStats(queue);
  }

  /**
   * Remove every message of `queue` (waiting, and delivered but unacknowledged); delayed tasks and
   * dead letters stay. Resolves with how many were removed. `celeriac purge -Q queue` asks first.
   * @throws InvalidArgumentError for a bad queue name.
   */
  purge(queue: string): Promise<number> {
    return this.transport().purgeQueue(queue);
  }

  /**
   * The worker registry: every node that wrote a heartbeat (kept a day), with `online` false once it
   * missed 3 heartbeats or said goodbye. Sorted by name.
   */
  workers(): Promise<WorkerInfo[]> {
    return this.#ops.workers();
  }

  /**
   * Follow the events of the app's workers (and producers with `sendSentEvents`): task-received,
   * task-started, task-progress, task-succeeded, task-failed, task-retried, task-revoked,
   * task-rejected, task-sent, worker-online, worker-heartbeat, worker-offline, circuit-changed.
   * Core NATS: events sent while nobody listens are gone. Resolves with an unsubscribe function
   * once listening.
   * @example
   * const stop = await app.events.subscribe((e) => console.log(e.type, e.task, e.id), { types: ['task-failed'] });
   */
  get events(): {
    /** Call `listener` for each event (of `options.types`); resolves with an unsubscribe function once listening. */
    subscribe(listener: (e: CeleriacEvent) => void, options?: SubscribeEventsOptions): Promise<() => void>;
  } {
    return { subscribe: (listener, options) => subscribeEvents(this.transport(), this.name, listener, options) };
  }

  /** @internal the leases bucket (`<app>-leases`): leader election of the scheduler. */
  leaseStore(): Promise<KeyValueStore> {
    return this.#conn.kv(`${this.name}-leases`, 86_400_000);
  }

  /** @internal crash attribution (bucket `<app>-attempts`). */
  attemptLedger(): Promise<AttemptLedger> {
    return this.#conn.attemptLedger();
  }

  /** @internal the dead-letter stream of the broker. */
  deadLetterStore(): Promise<DeadLetterStore> {
    return this.#conn.deadLetterStore();
  }

  readonly #warnings = new WarningChannel();
  readonly #warn = this.#warnings.warn;

  /**
   * Receive the broker's warnings (a consumer re-created, a dead-letter backstop failure, a full
   * dead-letter stream). A worker node logs them; without a listener they are process warnings.
   */
  onWarning(listener: (msg: string) => void): () => void {
    return this.#warnings.on(listener);
  }

  /** @internal the broker (created on first use, connected lazily by its operations). */
  transport(): Transport {
    return this.#conn.transport();
  }

  /** @internal the result backend (opened on first use). */
  resultBackend(): Promise<ResultBackend> {
    return this.#conn.resultBackend();
  }

  /** @internal codec of this app. */
  get codec(): Codec {
    return this.#codec;
  }

  /**
   * Close the broker connection. Workers made by {@link worker} that still run are stopped first
   * (warm shutdown, each with its own grace period), so their in-flight tasks finish or go back
   * to the broker instead of losing the connection under them.
   */
  async close(): Promise<void> {
    await Promise.all(
      [...this.#workers].map(async (w) => {
        // A node still starting is let finish first: a stop in the middle of start() would race it.
        while (w.state === 'starting') await new Promise((r) => setTimeout(r, 10));
        if (w.state === 'draining') await new Promise<void>((resolve) => w.onStopped(resolve));
        else if (w.state === 'running') await w.stop();
      }),
    );
    return this.#conn.close();
  }
}

/** True when `v` is a Celeriac {@link App} (works across copies of the package). */
export function isApp(v: unknown): v is App {
  return typeof v === 'object' && v !== null && (v as Record<symbol, unknown>)[APP_BRAND] === true;
}

/**
 * Create an app. Lazy: no connection is opened until the app is used.
 * @example
 * export const app = createApp({ name: 'shop', broker: process.env.CELERIAC_BROKER_URL });
 * export const add = app.task('math.add', async (ctx, a: number, b: number) => a + b);
 */
export function createApp(options: AppOptions = {}): App {
  return new App(options);
}
