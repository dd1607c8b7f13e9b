import { randomUUID } from 'node:crypto';
import { hostname } from 'node:os';
import { endSpan, startPublishSpan } from '../telemetry/tracing.ts';
import { InvalidArgumentError } from '../errors.ts';
import { type Codec, codecByName, decodeSniffed } from '../protocol/codec.ts';
import { type EncodedTask, encodeTask } from '../protocol/envelope.ts';
import { H } from '../protocol/headers.ts';
import { attemptsBucketName, resultsBucketName, revokedBucketName, validateTaskId, validateTaskName, validateToken } from '../protocol/names.ts';
import { parseRate } from '../util/rate.ts';
import { type Duration, parseDuration } from '../util/duration.ts';
import { AttemptLedger } from '../results/attempt-ledger.ts';
import { Revocations } from '../results/revocations.ts';
import { newRecord } from '../results/states.ts';
import type { DeadLetterStore, KeyValueStore } from '../transport/transport.ts';
import { DeadLetterQueue } from './dead-letter-queue.ts';
import { type ResolvedSchedule, type ScheduleOptions, resolveSchedule, slotTaskId } from '../actors/beat-schedule.ts';
import { AsyncResult } from '../results/async-result.ts';
import { ResultRouter } from '../results/result-router.ts';
import { KvResultBackend, type ResultBackend } from '../results/result-backend.ts';
import { type TaskDefinition, type TaskFn, registerTaskDefinition } from '../execution/task-definition.ts';
import { MemoryTransport } from '../transport/memory/memory-transport.ts';
import { NatsTransport } from '../transport/nats/nats-transport.ts';
import type { Transport } from '../transport/transport.ts';
import { EVENTS_SWITCH_KEY, WorkerNode } from '../actors/worker-node.ts';
import { type WorkerInfo, type WorkerRecord, workerInfo } from '../actors/worker-registry.ts';
import { type CeleriacEvent, EventEmitter, type EventType, decodeEventBatch, eventSubject } from '../execution/event-emitter.ts';
import type { WorkerOptions } from '../actors/worker-options.ts';
import { type AppOptions, type ResolvedAppOptions, bandQueue, queueSettingsOf, resolveAppOptions } from './app-options.ts';
import type { PreparedTask, PublishExtra, PublishRequest } from './publish.ts';
import { Task, type TaskPublisher } from './task.ts';
import { registerBuiltins } from './builtins.ts';
import { type Middleware, MiddlewareStack, type SignalEvent, type SignalName, validateMiddleware } from './middleware.ts';
import { WorkflowRuntime } from './workflow-runtime.ts';
import { resultTree } from '../canvas/result-tree.ts';
import { Signature, type SignatureOptions, type Workflow, workflowFromJSON } from '../canvas/signature.ts';
import type { Continuation } from '../execution/executor.ts';
import type { TaskMessage } from '../protocol/envelope.ts';
import type { WorkflowJSON } from '../protocol/workflow-json.ts';
import { ChordJoins } from '../results/chord-join.ts';
import type { GroupResult } from '../results/group-result.ts';
import type { ResultRecord } from '../results/states.ts';
import { type ApplyOptions, type ResolvedTaskOptions, type TaskOptions, resolveApplyOptions, resolveTaskOptions } from './task-options.ts';

const APP_BRAND = Symbol.for('celeriac.App');

/** Key prefix of run-time rate limits in the `<app>-control` bucket (`celeriac control rate-limit`). */
export const RATE_LIMIT_KEY_PREFIX = 'rate-limit.';

/**
 * A Celeriac application: the task registry plus a lazily opened broker connection. Importing a
 * module that creates an app and registers tasks opens no connection; the first publish, result
 * read or worker start does.
 */
export class App implements TaskPublisher {
  #options: Readonly<ResolvedAppOptions>;
  readonly #tasks = new Map<string, Task<never[], unknown>>();
  #codec: Codec;
  readonly #origin = `${process.pid}@${hostname()}`;
  #transport: Transport | undefined;
  #backend: Promise<ResultBackend> | undefined;
  #closed = false;
  readonly #backendFn = (): Promise<ResultBackend> => this.resultBackend();

  #given: AppOptions;

  /** @internal use {@link createApp}. */
  constructor(options: AppOptions) {
    this.#given = { ...options };
    this.#options = Object.freeze(resolveAppOptions(options));
    this.#codec = codecByName(this.options.serializer);
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
  get signals(): { on<K extends SignalName>(signal: K, listener: (event: SignalEvent<K>) => void): () => void } {
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
    if (this.#transport || this.#backend) {
      throw new InvalidArgumentError(`app "${this.name}" is already in use; configure() must come before the first publish or worker start`);
    }
    const defined = Object.fromEntries(Object.entries(overrides).filter(([, v]) => v !== undefined)) as AppOptions;
    if (defined.name !== undefined && defined.name !== this.options.name) {
      throw new InvalidArgumentError('configure(): the app name cannot change after tasks are registered');
    }
    this.#given = { ...this.#given, ...defined };
    this.#options = Object.freeze(resolveAppOptions(this.#given));
    this.#codec = codecByName(this.options.serializer);
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
    validateTaskName(name);
    if (typeof fn !== 'function') throw new InvalidArgumentError(`app.task("${name}"): fn must be a function`);
    if (this.#tasks.has(name)) throw new InvalidArgumentError(`app.task("${name}"): a task with this name is already registered`);
    const resolved = resolveTaskOptions(options, this.options.defaultQueue);
    const t = new Task<A, Awaited<R>>(this, name, fn as TaskFn<A, Awaited<R>>, resolved);
    this.#tasks.set(name, t as unknown as Task<never[], unknown>);
    if (resolved.middleware.length) {
      this.#mw.addForTask(name, resolved.middleware);
      for (const m of resolved.middleware) m.setup?.(this);
    }
    const def: TaskDefinition = {
      name,
      fn: fn as unknown as TaskFn<never[], unknown>,
      kind: resolved.kind,
      queue: resolved.queue,
      ignoreResult: resolved.ignoreResult,
      retry: resolved.retry,
      timeLimitMs: resolved.timeLimitMs,
      softTimeLimitMs: resolved.softTimeLimitMs,
      deadLetter: resolved.deadLetter,
    };
    registerTaskDefinition(this.options.name, def);
    return t;
  }

  readonly #schedules = new Map<string, ResolvedSchedule>();

  /**
   * Register a periodic task ("beat"). The scheduler's leader (in a worker node, or `celeriac beat`)
   * fires each slot once across all processes; the last fired slot is kept in KV (`<app>-beat`).
   * @example
   * app.schedule('cleanup', { task: 'files.cleanup', cron: '0 3 * * *', timezone: 'Europe/Berlin' });
   * app.schedule('heartbeat', { task: 'ops.ping', every: '30s', catchUp: 'skip' });
   * @throws InvalidArgumentError for a bad option or a duplicate name.
   */
  schedule(name: string, options: ScheduleOptions): ResolvedSchedule {
    const s = resolveSchedule(name, options);
    if (this.#schedules.has(name)) throw new InvalidArgumentError(`app.schedule("${name}"): a schedule with this name is already registered`);
    this.#schedules.set(name, s);
    return s;
  }

  /** Registered schedules. */
  schedules(): ResolvedSchedule[] {
    return [...this.#schedules.values()];
  }

  /** @internal publish the task of a schedule's slot (task id = dedupe id = the slot's id). */
  async fireSchedule(s: ResolvedSchedule, slotMs: number): Promise<void> {
    await this.sendTask(s.task, s.args, {
      taskId: slotTaskId(s.name, slotMs),
      ...(s.queue ? { queue: s.queue } : {}),
      ...(s.priority !== undefined ? { priority: s.priority } : {}),
      ...(s.expiresMs !== undefined ? { expires: s.expiresMs } : {}),
      headers: { 'beat-schedule': s.name, 'beat-slot': new Date(slotMs).toISOString() },
    });
  }

  /** @internal last-run state of the schedules (`<app>-beat`). */
  beatStore(): Promise<KeyValueStore> {
    return this.#kv(`${this.name}-beat`, 0);
  }

  /** Registered task names, sorted. */
  taskNames(): string[] {
    return [...this.#tasks.keys()].sort();
  }

  /** Kind of a registered task. */
  taskKind(name: string): 'io' | 'cpu' | undefined {
    return this.#tasks.get(name)?.options.kind;
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
    return new WorkerNode(this, options);
  }

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

  /** @internal */
  publishTask(
    name: string,
    args: readonly unknown[],
    taskOptions: ResolvedTaskOptions,
    options?: ApplyOptions,
    extra?: PublishExtra,
  ): Promise<AsyncResult<unknown>> {
    const chain = this.#mw.publishChain(name);
    if (!chain) return this.#publishTask(name, args, taskOptions, options, extra);
    return chain({ task: name, args, options: options ?? {} }, (input) => {
      const opts = input.task === name ? taskOptions : this.#taskOptionsOf(input.task, extra?.fallbackQueue);
      return this.#publishTask(input.task, input.args, opts, input.options, extra).then((r) => ({ taskId: r.id }));
    }).then((out) => this.asyncResult(out.taskId));
  }

  #publishTask(
    name: string,
    args: readonly unknown[],
    taskOptions: ResolvedTaskOptions,
    options?: ApplyOptions,
    extra?: PublishExtra,
  ): Promise<AsyncResult<unknown>> {
    try {
      const router = this.#routerFor(taskOptions, options, extra);
      if (router && !router.started) {
        return this.transport()
          .connect()
          .then(() => {
            router.start();
            return this.#publishTask(name, args, taskOptions, options, extra);
          });
      }
      const p = this.#prepare(name, args, taskOptions, options, extra, router);
      return this.#send(p).then(() => this.asyncResult(p.encoded.id));
    } catch (err) {
      return Promise.reject(err);
    }
  }

  /**
   * @internal publish many tasks (a workflow's first tasks, a worker's continuation): every message
   * is encoded and checked before the first is sent, so bad input publishes nothing; at most 256
   * publishes are in flight.
   */
  async publishBatch(items: readonly PublishRequest[]): Promise<void> {
    if (items.some((it) => this.#mw.publishChain(it.name))) {
      // Publish middleware sees each task: one publish at a time through its chain (still bounded).
      let i = 0;
      await Promise.all(
        Array.from({ length: Math.min(256, items.length) }, async () => {
          while (i < items.length) {
            const it = items[i++] as PublishRequest;
            await this.publishTask(it.name, it.args, this.#taskOptionsOf(it.name, it.extra?.fallbackQueue), it.options, it.extra);
          }
        }),
      );
      return;
    }
    const routers = new Set<ResultRouter>();
    const prepared = items.map((it) => {
      const taskOptions = this.#taskOptionsOf(it.name, it.extra?.fallbackQueue);
      const router = this.#routerFor(taskOptions, it.options, it.extra);
      if (router) routers.add(router);
      return { it, taskOptions, router };
    });
    if ([...routers].some((r) => !r.started)) {
      await this.transport().connect();
      for (const r of routers) r.start();
    }
    const ready: PreparedTask[] = [];
    try {
      for (const { it, taskOptions, router } of prepared) ready.push(this.#prepare(it.name, it.args, taskOptions, it.options, it.extra, router));
    } catch (err) {
      for (const p of ready) endSpan(p.span, err); // nothing was sent
      throw err;
    }
    let next = 0;
    await Promise.all(
      Array.from({ length: Math.min(256, ready.length) }, async () => {
        while (next < ready.length) await this.#send(ready[next++] as PreparedTask);
      }),
    );
  }

  #taskOptionsOf(name: string, fallbackQueue?: string): ResolvedTaskOptions {
    const known = this.#tasks.get(name);
    if (known) return known.options;
    return resolveTaskOptions(fallbackQueue && name.startsWith('celeriac.') ? { queue: fallbackQueue } : undefined, this.options.defaultQueue);
  }

  /** Results are routed back to this client (reply_to) when they go to the broker's bucket and no reply_to was inherited. */
  #routerFor(taskOptions: ResolvedTaskOptions, options: ApplyOptions | undefined, extra: PublishExtra | undefined): ResultRouter | undefined {
    if (extra?.replyTo !== undefined) return undefined;
    const ignoreResult = options?.ignoreResult ?? taskOptions.ignoreResult;
    return !ignoreResult && this.options.resultBackend === 'broker' ? this.#router() : undefined;
  }

  #prepare(
    name: string,
    args: readonly unknown[],
    taskOptions: ResolvedTaskOptions,
    options: ApplyOptions | undefined,
    extra: PublishExtra | undefined,
    router: ResultRouter | undefined,
  ): PreparedTask {
    if (!Array.isArray(args)) throw new InvalidArgumentError(`${name}.applyAsync(args): args must be an array`);
    const o = resolveApplyOptions(options);
    const ignoreResult = o.ignoreResult ?? taskOptions.ignoreResult;
    if (o.idempotencyKey !== null && ignoreResult) {
      throw new InvalidArgumentError(`${name}: options.idempotencyKey needs a stored result, but the task is declared ignoreResult`);
    }
    const id = o.taskId ?? randomUUID();
    const base = o.queue ?? taskOptions.queue;
    const queue = bandQueue(base, o.priority ?? taskOptions.priority, queueSettingsOf(this.options, base));
    // The PRODUCER span (a child of whatever is active: a client's span, or the execution that
    // publishes the next step of a workflow); its context travels in the headers.
    const headers: Record<string, string> = { ...o.headers };
    const span = startPublishSpan(name, id, queue, headers);
    let encoded: EncodedTask;
    try {
      encoded = encodeTask(
        {
          task: name,
          id,
          args,
          eta: o.eta,
          expires: o.expires,
          priority: o.priority ?? taskOptions.priority,
          headers,
          origin: this.#origin,
          ignoreResult,
          replyTo: extra?.replyTo ?? router?.subject,
          idempotencyKey: o.idempotencyKey ?? (extra?.idempotent && !ignoreResult && o.taskId ? o.taskId : null),
          timelimit: o.timeLimits ? [o.timeLimits[0] === null ? null : o.timeLimits[0] / 1000, o.timeLimits[1] === null ? null : o.timeLimits[1] / 1000] : undefined,
          ...(extra?.embed ? { embed: extra.embed } : {}),
          ...(extra?.rootId ? { rootId: extra.rootId } : {}),
          ...(extra?.parentId ? { parentId: extra.parentId } : {}),
          ...(extra?.group ? { group: extra.group } : {}),
        },
        this.#codec,
        this.options.maxPayloadBytes,
      );
    } catch (err) {
      endSpan(span, err);
      throw err;
    }
    router?.track(encoded.id);
    return { name, encoded, queue, eta: o.eta, ignoreResult, span };
  }

  #sentEvents: EventEmitter | undefined;

  #send(p: PreparedTask): Promise<void> {
    const sent = p.eta !== null && p.eta > Date.now() ? this.#publishDelayed(p.queue, p.encoded, p.eta, p.name, p.ignoreResult) : this.transport().publish(p.queue, p.encoded);
    return sent.then(
      () => {
        endSpan(p.span);
        if (this.options.sendSentEvents) {
          this.#sentEvents ??= new EventEmitter(this.transport(), this.name, this.#origin);
          this.#sentEvents.emit('task-sent', p.encoded.id, p.name, p.eta === null ? { queue: p.queue } : { queue: p.queue, eta: p.eta });
        }
      },
      (err: unknown) => {
        endSpan(p.span, err);
        throw err;
      },
    );
  }

  /**
   * A task due later waits in the delayed stream until the scheduler moves it to its queue; its
   * state is `SCHEDULED` (written first, so it can never overwrite a state the task reached).
   */
  async #publishDelayed(queue: string, encoded: EncodedTask, eta: number, name: string, ignoreResult: boolean): Promise<void> {
    const backend = ignoreResult ? null : await this.resultBackend();
    if (backend) {
      await backend
        .writer(encoded.id, null)
        .write(newRecord({ status: 'SCHEDULED', taskId: encoded.id, name, meta: { eta: new Date(eta).toISOString(), queue }, attempt: null }));
    }
    await this.transport().publishDelayed(queue, encoded);
  }

  #routerInstance: ResultRouter | undefined;
  #router(): ResultRouter {
    this.#routerInstance ??= new ResultRouter(this.transport(), this.name, (b) => decodeSniffed(b));
    return this.#routerInstance;
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

  #joins: Promise<ChordJoins> | undefined;
  /** @internal chord joins (bucket `<app>-chords`, kept as long as results). */
  chordJoins(): Promise<ChordJoins> {
    this.#joins ??= this.#kv(`${this.name}-chords`, this.options.resultExpiresMs).then((kv) => new ChordJoins(kv, this.#codec));
    this.#joins.catch(() => (this.#joins = undefined));
    return this.#joins;
  }

  /** @internal send a terminal record to a client's reply subject. */
  notifyResult(replyTo: string, taskId: string, record: ResultRecord): void {
    this.transport().notify(replyTo, { id: taskId }, this.#codec.encode(record));
  }

  /** @internal expect routed results for these ids. */
  trackRouted(ids: readonly string[]): void {
    if (this.options.resultBackend !== 'broker') return;
    const r = this.#router();
    for (const id of ids) r.track(id);
  }

  /** A handle on the result of task `id`. */
  asyncResult<R = unknown>(id: string): AsyncResult<R> {
    return new AsyncResult<R>(id, this.#backendFn, this.#routerInstance, this.#revoker);
  }

  readonly #revoker = (ids: readonly string[], options: { terminate?: boolean }): Promise<void> => this.control.revoke(ids, options);

  /**
   * Remote control of the workers.
   * - `revoke(ids, { terminate })`: every current and future worker skips these task ids (state
   *   `REVOKED`) until `revokeExpires`; running executions see `ctx.signal` abort, and with
   *   `terminate` a CPU task's thread is terminated and an I/O task abandoned.
   */
  get control(): {
    revoke(ids: readonly string[], options?: { terminate?: boolean }): Promise<void>;
    rateLimit(task: string, rate: string | null): Promise<void>;
    events(enabled: boolean): Promise<void>;
  } {
    return {
      events: async (enabled) => {
        if (typeof enabled !== 'boolean') throw new InvalidArgumentError('control.events(enabled): enabled must be a boolean');
        const kv = await this.#kv(`${this.name}-control`, 0);
        await kv.put(EVENTS_SWITCH_KEY, new TextEncoder().encode(JSON.stringify({ enabled, at: new Date().toISOString() })));
      },
      rateLimit: async (task, rate) => {
        validateTaskName(task, 'control.rateLimit(task)');
        const text = rate === null ? null : parseRate(rate, 'control.rateLimit(rate)').text;
        const kv = await this.#kv(`${this.name}-control`, 0);
        await kv.put(`${RATE_LIMIT_KEY_PREFIX}${task}`, new TextEncoder().encode(JSON.stringify({ rate: text, at: new Date().toISOString() })));
      },
      revoke: async (ids, options = {}) => {
        if (!Array.isArray(ids)) throw new InvalidArgumentError('control.revoke(ids): ids must be an array of task ids');
        ids.forEach((id, i) => validateTaskId(id, `control.revoke ids[${i}]`));
        const revocations = await this.revocations();
        await revocations.revoke(ids, options);
        // A task not started yet (or running with no state stored) shows REVOKED at once; a stored
        // final result is kept.
        const backend = await this.resultBackend();
        await Promise.all(
          ids.map((id) => {
            const record = newRecord({
              status: 'REVOKED',
              taskId: id,
              error: { name: 'TaskRevokedError', message: `task ${id} was revoked`, code: 'E_REVOKED' },
              meta: { reason: 'revoked', terminate: options.terminate === true },
              attempt: null,
            });
            return backend.writer(id, null).write(record);
          }),
        );
      },
    };
  }

  #deadLetterQueue: DeadLetterQueue | undefined;
  /** The dead-letter stream: `list`, `show`, `replay`, `purge`, `count` (docs/guide/failures.md). */
  get deadLetters(): DeadLetterQueue {
    this.#deadLetterQueue ??= new DeadLetterQueue({
      transport: () => this.transport(),
      store: () => this.deadLetterStore(),
      backend: () => this.resultBackend(),
      ledger: () => this.attemptLedger(),
    });
    return this.#deadLetterQueue;
  }

  #stores = new Map<string, Promise<KeyValueStore>>();
  /** A KV bucket on the results' transport (opened once). */
  #kv(bucket: string, ttlMs: number): Promise<KeyValueStore> {
    let p = this.#stores.get(bucket);
    if (!p) {
      p = (async () => {
        const t = this.options.resultBackend === 'memory' ? this.#memoryResults() : this.transport();
        await t.connect();
        return t.openKv(bucket, { ttlMs });
      })().catch((err) => {
        this.#stores.delete(bucket);
        throw err;
      });
      this.#stores.set(bucket, p);
    }
    return p;
  }

  #memoryResultsTransport: Transport | undefined;
  #memoryResults(): Transport {
    this.#memoryResultsTransport ??= new MemoryTransport('memory://results');
    return this.#memoryResultsTransport;
  }

  #revocations: Promise<Revocations> | undefined;
  /** @internal the revoked-ids set (bucket `<app>-revoked`). */
  revocations(): Promise<Revocations> {
    this.#revocations ??= this.#kv(revokedBucketName(this.name), this.options.revokeExpiresMs).then((kv) => new Revocations(kv));
    this.#revocations.catch(() => (this.#revocations = undefined));
    return this.#revocations;
  }

  /**
   * Delayed tasks waiting for their eta, soonest first (at most `limit`, default 100): what
   * `celeriac inspect scheduled` prints.
   */
  async scheduled(options: { limit?: number } = {}): Promise<Array<{ id: string; task: string | null; queue: string; eta: string }>> {
    const t = this.transport();
    await t.connect();
    const store = await t.delayed();
    const entries = (await store.list(1_000_000)).sort((a, b) => a.eta - b.eta).slice(0, options.limit ?? 100);
    return Promise.all(
      entries.map(async (e) => ({
        id: e.taskId,
        task: (await store.fetch(e.seq))?.headers[H.task] ?? null,
        queue: e.queue,
        eta: new Date(e.eta).toISOString(),
      })),
    );
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
    return this.#kv(`${this.name}-${name}`, ttlMs);
  }

  /**
   * The worker registry: every node that wrote a heartbeat (kept a day), with `online` false once it
   * missed 3 heartbeats or said goodbye. Sorted by name.
   */
  async workers(): Promise<WorkerInfo[]> {
    const kv = await this.keyValue('workers');
    const now = Date.now();
    const out: WorkerInfo[] = [];
    for (const e of await kv.entries(10_000)) {
      try {
        out.push(workerInfo(JSON.parse(new TextDecoder().decode(e.value)) as WorkerRecord, now));
      } catch {
        /* not a registry entry */
      }
    }
    return out.sort((a, b) => a.name.localeCompare(b.name));
  }

  /**
   * Follow the events of the app's workers (and producers with `sendSentEvents`): task-received,
   * task-started, task-progress, task-succeeded, task-failed, task-retried, task-revoked,
   * task-rejected, task-sent, worker-online, worker-heartbeat, worker-offline. Core NATS: events sent
   * while nobody listens are gone. Resolves with an unsubscribe function once listening.
   * @example
   * const stop = await app.events.subscribe((e) => console.log(e.type, e.task, e.id), { types: ['task-failed'] });
   */
  get events(): { subscribe(listener: (e: CeleriacEvent) => void, options?: { types?: readonly EventType[] }): Promise<() => void> } {
    return {
      subscribe: async (listener, options = {}) => {
        const t = this.transport();
        await t.connect();
        const only = options.types ? new Set<string>(options.types) : null;
        const dec = new TextDecoder();
        const subjects = only ? [...new Set([...only].map((type) => eventSubject(this.name, type as EventType)))] : [`${this.name}.events.>`];
        const offs = subjects.map((subject) =>
          t.listen(subject, (h, body) => {
            let list: CeleriacEvent[];
            try {
              list = decodeEventBatch(JSON.parse(dec.decode(body)), h('worker') ?? '');
            } catch {
              return;
            }
            for (const e of list) if (!only || only.has(e.type)) listener(e);
          }),
        );
        return () => {
          for (const off of offs) off();
        };
      },
    };
  }

  /** @internal the leases bucket (`<app>-leases`): leader election of the scheduler. */
  leaseStore(): Promise<KeyValueStore> {
    return this.#kv(`${this.name}-leases`, 86_400_000);
  }

  #ledger: Promise<AttemptLedger> | undefined;
  /** @internal crash attribution (bucket `<app>-attempts`). */
  attemptLedger(): Promise<AttemptLedger> {
    this.#ledger ??= this.#kv(attemptsBucketName(this.name), Math.max(this.options.resultExpiresMs, 86_400_000)).then((kv) => new AttemptLedger(kv));
    this.#ledger.catch(() => (this.#ledger = undefined));
    return this.#ledger;
  }

  /** @internal the dead-letter stream of the broker. */
  async deadLetterStore(): Promise<DeadLetterStore> {
    const t = this.transport();
    await t.connect();
    return t.deadLetters();
  }

  readonly #warnListeners = new Set<(msg: string) => void>();
  readonly #warn = (msg: string): void => {
    if (this.#warnListeners.size === 0) process.emitWarning(msg, { code: 'CELERIAC_TRANSPORT' });
    for (const l of this.#warnListeners) l(msg);
  };

  /**
   * Receive the broker's warnings (a consumer re-created, a dead-letter backstop failure, a full
   * dead-letter stream). A worker node logs them; without a listener they are process warnings.
   */
  onWarning(listener: (msg: string) => void): () => void {
    this.#warnListeners.add(listener);
    return () => this.#warnListeners.delete(listener);
  }

  /** @internal the broker (created on first use, connected lazily by its operations). */
  transport(): Transport {
    if (this.#closed) throw new InvalidArgumentError(`app "${this.name}" is closed`);
    if (!this.#transport) {
      const o = this.options;
      this.#transport = o.broker.startsWith('memory://')
        ? new MemoryTransport(o.broker, {
            maxMessages: o.maxQueuedTasks,
            namespace: o.name,
            ackWaitMs: o.ackWaitMs,
            queueSettings: (q) => queueSettingsOf(o, q),
            maxDeadLetters: o.maxDeadLetters,
            onWarning: this.#warn,
          })
        : new NatsTransport(o.broker.replace(/^nats:\/\//, ''), {
            app: o.name,
            name: `celeriac:${o.name}:${this.#origin}`,
            maxQueueMessages: o.maxQueuedTasks,
            maxQueueBytes: o.maxQueuedBytes,
            maxPayloadBytes: o.maxPayloadBytes,
            duplicateWindowMs: o.duplicateWindowMs,
            queueSettings: (q) => queueSettingsOf(o, q),
            maxDeadLetters: o.maxDeadLetters,
            onWarning: this.#warn,
            updateExisting: o.updateBrokerConfig,
            maxAckPending: o.maxAckPending,
            publishTimeoutMs: o.publishTimeoutMs,
            pullExpiresMs: 10_000,
          });
    }
    return this.#transport;
  }

  /** @internal the result backend (opened on first use). */
  resultBackend(): Promise<ResultBackend> {
    this.#backend ??= (async () => {
      const kv = await this.#kv(resultsBucketName(this.name), this.options.resultExpiresMs);
      return new KvResultBackend(kv, this.#codec);
    })().catch((err) => {
      this.#backend = undefined;
      throw err;
    });
    return this.#backend;
  }

  /** @internal codec of this app. */
  get codec(): Codec {
    return this.#codec;
  }

  /** Close the broker connection (a worker started from this app must be stopped first). */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#routerInstance?.close();
    await this.#transport?.close();
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
