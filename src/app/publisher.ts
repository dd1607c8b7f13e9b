import { newTaskId } from '../util/task-id.ts';
import { InvalidArgumentError, PublishError } from '../errors.ts';
import type { Codec } from '../protocol/codec.ts';
import { type EncodedTask, type NewTaskMessage, encodeTaskBody, encodeTaskWithBody } from '../protocol/envelope.ts';
import type { AsyncResult } from '../results/async-result.ts';
import type { ResultBackend } from '../results/result-backend.ts';
import type { ResultRouter } from '../results/result-router.ts';
import { newRecord } from '../results/states.ts';
import { endSpan, startPublishSpan } from '../telemetry/tracing.ts';
import type { Transport } from '../transport/transport.ts';
import { EventEmitter } from '../execution/event-emitter.ts';
import { copyRecord } from '../util/copy-record.ts';
import { type ResolvedAppOptions, bandQueue, queueSettingsOf } from './app-options.ts';
import type { MessageSecurity } from './message-security.ts';
import type { MiddlewareStack } from './middleware.ts';
import type { PreparedTask, PublishExtra, PublishRequest } from './publish.ts';
import { type ApplyOptions, type ResolvedApplyOptions, type ResolvedTaskOptions, resolveApplyOptions, resolveTaskOptions } from './task-options.ts';

/** Publishes of a batch (a workflow's first tasks, a continuation) in flight at once. */
const BATCH_WINDOW = 256;

/** What a publish takes from the task and the call's options, the same for every task of a bulk call. */
interface PublishPlan {
  name: string;
  o: ResolvedApplyOptions;
  queue: string;
  priority: number | null;
  ignoreResult: boolean;
  replyTo: string | undefined;
  idempotencyKey: string | null;
  timelimit: [number | null, number | null] | undefined;
  extra: PublishExtra | undefined;
  router: ResultRouter | undefined;
}

/**
 * Run `fn` over `items` in order with at most `window` running, with no promise or closure of its
 * own per item (a bulk enqueue runs it by the ten thousand). After the first failure nothing more
 * is started; it resolves once every call begun has settled, with how many succeeded and the first
 * error.
 */
function windowed<T>(items: readonly T[], window: number, fn: (item: T, index: number) => Promise<unknown>): Promise<{ count: number; error?: unknown }> {
  return new Promise((resolve) => {
    let next = 0;
    let inFlight = 0;
    let count = 0;
    let failed = false;
    let error: unknown;
    const pump = (): void => {
      while (!failed && inFlight < window && next < items.length) {
        inFlight++;
        const k = next++;
        let started: Promise<unknown>;
        try {
          started = fn(items[k] as T, k);
        } catch (err) {
          started = Promise.reject(err);
        }
        started.then(done, fail);
      }
      if (inFlight === 0 && (failed || next >= items.length)) resolve(failed ? { count, error } : { count });
    };
    const done = (): void => {
      inFlight--;
      count++;
      pump();
    };
    const fail = (err: unknown): void => {
      inFlight--;
      if (!failed) {
        failed = true;
        error = err;
      }
      pump();
    };
    pump();
  });
}

/** What the publisher needs from its app. */
export interface PublisherHost {
  readonly name: string;
  readonly options: Readonly<ResolvedAppOptions>;
  readonly codec: Codec;
  /** Producer identity (`pid@host`). */
  readonly origin: string;
  readonly middleware: MiddlewareStack;
  /** Signing of the app's messages, or null (ADR 0010). */
  readonly security?: MessageSecurity | null;
  transport(): Transport;
  /** The app's result router (created on first use). */
  router(): ResultRouter;
  resultBackend(): Promise<ResultBackend>;
  asyncResult(id: string): AsyncResult<unknown>;
  /** Options of a task registered in this app, if it is. */
  knownTask(name: string): ResolvedTaskOptions | undefined;
}

/**
 * The app's publishing: call options resolved, the message encoded and checked, the PRODUCER span
 * started, the result routed back to this client, and the message sent to its queue (or, when due
 * later, to the delayed stream with a `SCHEDULED` state) — one task, or a batch that publishes
 * nothing when one of its tasks is bad.
 */
export class Publisher {
  readonly #h: PublisherHost;

  constructor(host: PublisherHost) {
    this.#h = host;
  }

  /** Publish one task through the publish middleware (if any). */
  publishTask(
    name: string,
    args: readonly unknown[],
    taskOptions: ResolvedTaskOptions,
    options?: ApplyOptions,
    extra?: PublishExtra,
  ): Promise<AsyncResult<unknown>> {
    const chain = this.#h.middleware.publishChain(name);
    if (!chain) return this.#publishTask(name, args, taskOptions, options, extra);
    return chain({ task: name, args, options: options ?? {} }, (input) => {
      const opts = input.task === name ? taskOptions : this.#taskOptionsOf(input.task, extra?.fallbackQueue);
      return this.#publishTask(input.task, input.args, opts, input.options, extra).then((r) => ({ taskId: r.id }));
    }).then((out) => this.#h.asyncResult(out.taskId));
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
        return this.#h.transport()
          .connect()
          .then(() => {
            router.start();
            return this.#publishTask(name, args, taskOptions, options, extra);
          });
      }
      const p = this.#prepare(name, args, taskOptions, options, extra, router);
      return this.#send(p).then(() => this.#h.asyncResult(p.encoded.id));
    } catch (err) {
      return Promise.reject(err);
    }
  }

  /**
   * Publish one task per argument list (`task.delayMany`): every argument list is encoded and checked
   * before the first is sent (bad input publishes nothing), then the tasks are sent with at most
   * `window` publishes awaiting their acknowledgement, each message built as it is sent (what
   * differs between them is the id and the body). Resolves with one AsyncResult per argument list,
   * in order.
   * @throws PublishError naming how many were published when sending fails part-way.
   */
  async publishMany(name: string, argsList: ReadonlyArray<readonly unknown[]>, taskOptions: ResolvedTaskOptions, options: ApplyOptions | undefined, window: number): Promise<Array<AsyncResult<unknown>>> {
    if (!Array.isArray(argsList)) throw new InvalidArgumentError(`${name}.delayMany(argsList): argsList must be an array of argument arrays`);
    if (options?.taskId !== undefined) throw new InvalidArgumentError(`${name}.delayMany: options.taskId cannot be given (every task gets its own id)`);
    if (this.#h.middleware.publishChain(name)) {
      // Publish middleware sees each task: one at a time through its chain, `window` at once.
      const out = new Array<AsyncResult<unknown>>(argsList.length);
      const r = await windowed(argsList, window, (args, k) =>
        this.publishTask(name, args, taskOptions, options).then((result) => {
          out[k] = result;
        }),
      );
      if (r.error !== undefined) throw r.error;
      return out;
    }
    const router = this.#routerFor(taskOptions, options, undefined);
    if (router && !router.started) {
      await this.#h.transport().connect();
      router.start();
    }
    const plan = this.#plan(name, taskOptions, options, undefined, router);
    const codec = this.#h.codec;
    const maxPayload = this.#h.options.maxPayloadBytes;
    const bodies = new Array<Uint8Array>(argsList.length);
    const ids = new Array<string>(argsList.length);
    for (let k = 0; k < argsList.length; k++) {
      const args = argsList[k];
      if (!Array.isArray(args)) throw new InvalidArgumentError(`${name}.delayMany(argsList): argsList[${k}] is ${args === null ? 'null' : typeof args}, but args must be an array`);
      bodies[k] = encodeTaskBody({ task: name, args, embed: plan.extra?.embed }, codec, maxPayload);
      ids[k] = newTaskId();
    }
    if (argsList.length === 0) return [];
    // The headers (and the signature) differ between the tasks only by the id: the first message,
    // built now, checks them for all.
    const first = this.#materialize(plan, argsList[0] as readonly unknown[], ids[0] as string, bodies[0]);
    const sent = await windowed(argsList, window, (args, k) =>
      this.#send(k === 0 ? first : this.#materialize(plan, args, ids[k] as string, bodies[k])),
    );
    if (sent.error !== undefined) {
      throw new PublishError(`${name}.delayMany: ${sent.count} of ${argsList.length} tasks were published before a publish failed: ${(sent.error as Error).message}`, { cause: sent.error });
    }
    return ids.map((id) => this.#h.asyncResult(id));
  }

  /**
   * @internal publish many tasks (a workflow's first tasks, a worker's continuation): every message
   * is encoded and checked before the first is sent, so bad input publishes nothing; at most 256
   * publishes are in flight.
   */
  async publishBatch(items: readonly PublishRequest[]): Promise<void> {
    if (items.some((it) => this.#h.middleware.publishChain(it.name))) {
      // Publish middleware sees each task: one publish at a time through its chain (still bounded).
      const r = await windowed(items, BATCH_WINDOW, (it) => this.publishTask(it.name, it.args, this.#taskOptionsOf(it.name, it.extra?.fallbackQueue), it.options, it.extra));
      if (r.error !== undefined) throw r.error;
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
      await this.#h.transport().connect();
      for (const r of routers) r.start();
    }
    const ready = this.#prepareAll(prepared, ({ it, taskOptions, router }) => this.#prepare(it.name, it.args, taskOptions, it.options, it.extra, router));
    const sent = await windowed(ready, BATCH_WINDOW, this.#sendOne);
    if (sent.error !== undefined) throw sent.error;
  }

  /** Encode and check every task before any is sent: on the first bad one, end the spans begun and throw. */
  #prepareAll<T>(items: readonly T[], prepare: (item: T) => PreparedTask): PreparedTask[] {
    const ready: PreparedTask[] = [];
    try {
      for (const item of items) ready.push(prepare(item));
    } catch (err) {
      for (const p of ready) endSpan(p.span, err); // nothing was sent
      throw err;
    }
    return ready;
  }

  #taskOptionsOf(name: string, fallbackQueue?: string): ResolvedTaskOptions {
    const known = this.#h.knownTask(name);
    if (known) return known;
    return resolveTaskOptions(fallbackQueue && name.startsWith('celeriac.') ? { queue: fallbackQueue } : undefined, this.#h.options.defaultQueue);
  }

  /**
   * Results are routed back to this client (reply_to) when they go to the broker's bucket, no
   * reply_to was inherited, and the router is accepting (it pauses while this client leaves its
   * results unclaimed: their `get()` reads the bucket).
   */
  #routerFor(taskOptions: ResolvedTaskOptions, options: ApplyOptions | undefined, extra: PublishExtra | undefined): ResultRouter | undefined {
    if (extra?.replyTo !== undefined) return undefined;
    const ignoreResult = options?.ignoreResult ?? taskOptions.ignoreResult;
    if (ignoreResult || this.#h.options.resultBackend !== 'broker') return undefined;
    const router = this.#h.router();
    return router.accepting ? router : undefined;
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
    const plan = this.#plan(name, taskOptions, options, extra, router);
    return this.#materialize(plan, args, plan.o.taskId ?? newTaskId());
  }

  /** Resolve the call's options against the task's, and check them. */
  #plan(name: string, taskOptions: ResolvedTaskOptions, options: ApplyOptions | undefined, extra: PublishExtra | undefined, router: ResultRouter | undefined): PublishPlan {
    const o = resolveApplyOptions(options);
    const ignoreResult = o.ignoreResult ?? taskOptions.ignoreResult;
    if (o.idempotencyKey !== null && ignoreResult) {
      throw new InvalidArgumentError(`${name}: options.idempotencyKey needs a stored result, but the task is declared ignoreResult`);
    }
    const base = o.queue ?? taskOptions.queue;
    const priority = o.priority ?? taskOptions.priority;
    const queue = bandQueue(base, priority, queueSettingsOf(this.#h.options, base));
    return {
      name,
      o,
      queue,
      priority,
      ignoreResult,
      replyTo: extra?.replyTo ?? router?.subject,
      idempotencyKey: o.idempotencyKey ?? (extra?.idempotent && !ignoreResult && o.taskId ? o.taskId : null),
      timelimit: o.timeLimits ? [o.timeLimits[0] === null ? null : o.timeLimits[0] / 1000, o.timeLimits[1] === null ? null : o.timeLimits[1] / 1000] : undefined,
      extra,
      router,
    };
  }

  /**
   * One message of a plan: the PRODUCER span started, the message encoded (around `body` when it
   * was encoded and checked already), signed, and its result routed back to this client.
   */
  #materialize(plan: PublishPlan, args: readonly unknown[], id: string, body?: Uint8Array): PreparedTask {
    const { name, queue } = plan;
    // The PRODUCER span (a child of whatever is active: a client's span, or the execution that
    // publishes the next step of a workflow); its context travels in the headers.
    const headers: Record<string, string> = copyRecord(plan.o.headers);
    const span = startPublishSpan(name, id, queue, headers);
    let encoded: EncodedTask;
    try {
      const extra = plan.extra;
      const m: NewTaskMessage = {
        task: name,
        id,
        args,
        eta: plan.o.eta,
        expires: plan.o.expires,
        priority: plan.priority,
        headers,
        origin: this.#h.origin,
        ignoreResult: plan.ignoreResult,
        replyTo: plan.replyTo,
        idempotencyKey: plan.idempotencyKey,
        timelimit: plan.timelimit,
      };
      // Set only when given (no spread of an empty object per task: V8 copies those property by property).
      if (extra?.embed) m.embed = extra.embed;
      if (extra?.rootId) m.rootId = extra.rootId;
      if (extra?.parentId) m.parentId = extra.parentId;
      if (extra?.group) m.group = extra.group;
      encoded = encodeTaskWithBody(m, body ?? encodeTaskBody(m, this.#h.codec, this.#h.options.maxPayloadBytes), this.#h.codec, true);
      // Signed (and encrypted) last: the signature covers the queue and the final headers.
      if (this.#h.security) encoded = this.#h.security.signTask(queue, encoded);
    } catch (err) {
      endSpan(span, err);
      throw err;
    }
    plan.router?.track(encoded.id);
    return { name, encoded, queue, eta: plan.o.eta, ignoreResult: plan.ignoreResult, span };
  }

  #sentEvents: EventEmitter | undefined;

  /** {@link #send} as one function for {@link windowed} (no closure per call). */
  readonly #sendOne = (p: PreparedTask): Promise<void> => this.#send(p);

  #send(p: PreparedTask): Promise<void> {
    const sent = p.eta !== null && p.eta > Date.now() ? this.#publishDelayed(p.queue, p.encoded, p.eta, p.name, p.ignoreResult) : this.#h.transport().publish(p.queue, p.encoded);
    // Nothing to do after the PubAck (no recording span, no task-sent event): no callbacks per task.
    if (!p.span.isRecording() && !this.#h.options.sendSentEvents) return sent;
    return sent.then(
      () => {
        endSpan(p.span);
        if (this.#h.options.sendSentEvents) {
          this.#sentEvents ??= new EventEmitter(this.#h.transport(), this.#h.name, this.#h.origin);
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
    const backend = ignoreResult ? null : await this.#h.resultBackend();
    if (backend) {
      await backend
        .writer(encoded.id, null)
        .write(newRecord({ status: 'SCHEDULED', taskId: encoded.id, name, meta: { eta: new Date(eta).toISOString(), queue }, attempt: null }));
    }
    await this.#h.transport().publishDelayed(queue, encoded);
  }

}
