/**
 * Signatures and workflows (Celery's canvas), typed: `task.s()`, `task.si()`, {@link chain},
 * {@link group}, {@link chord}. They are plain data (`toJSON()` gives the wire form of
 * docs/protocol.md) plus the app that applies them.
 * @module
 */
import { InvalidArgumentError, isInvalidArgumentError } from '../errors.ts';
import { APPLY_OPTION_KEYS, resolveApplyOptions, resolveTimeLimits } from '../middleware/apply-options.ts';
import {
  type ChainJSON,
  type ChordJSON,
  type GroupJSON,
  type SignatureOptionsJSON,
  type TaskSignatureJSON,
  type WorkflowJSON,
  isTaskSignatureJSON,
  validateWorkflow,
} from '../protocol/workflow-json.ts';
import type { AsyncResult } from '../results/async-result.ts';
import { type GroupResult, WorkflowResult } from '../results/group-result.ts';
import type { Duration } from '../util/duration.ts';
import { unknownKeyMessage } from '../util/known-keys.ts';

/** What applies a workflow: the app (a signature made by `task.s()` or `app.signature()` knows it). */
export interface WorkflowApplier {
  /** @internal freeze and publish `w`; resolves with the frozen workflow once every first task is stored by the broker. */
  applyWorkflow(w: WorkflowJSON, prepend: readonly unknown[] | null): Promise<WorkflowJSON>;
  /** A handle on task `id`. */
  asyncResult<R = unknown>(id: string): AsyncResult<R>;
  /** @internal build the result handles of a frozen workflow. */
  resultsOf(frozen: WorkflowJSON): { final: AsyncResult | GroupResult; tasks: AsyncResult[] };
}

/** Call options a signature or workflow carries (`.set()`), applied when it is published. */
export interface SignatureOptions {
  /** Task id (group id for a group, join id for a chord). @defaultValue a random UUID, assigned when applied */
  taskId?: string;
  queue?: string;
  /** 0–9, higher first. */
  priority?: number;
  /** Run no earlier than this long after the task is published (for a chain: its first task). */
  countdown?: Duration;
  /** Run no earlier than this time. */
  eta?: Date;
  /** Not run after this time, or this long after publishing. */
  expires?: Date | Duration;
  headers?: Record<string, string>;
  timeLimit?: Duration;
  softTimeLimit?: Duration;
  ignoreResult?: boolean;
  /** Run with the result once it succeeds (a chain: after its last task; a group: after each member). */
  link?: Workflow | readonly Workflow[];
  /** Run with `(taskId, error)` once it fails for good (a chain: for whichever task fails). */
  linkError?: Workflow | readonly Workflow[];
}

function linkList(v: Workflow | readonly Workflow[] | undefined, what: string): WorkflowJSON[] | undefined {
  if (v === undefined) return undefined;
  const list = Array.isArray(v) ? v : [v];
  return list.map((w, i) => {
    if (!(w instanceof Workflow)) throw new InvalidArgumentError(`${what}[${i}] must be a signature or workflow (task.s(), chain(), group(), chord())`);
    return w.raw;
  });
}

/** Every key of {@link SignatureOptions}: the call options but `idempotencyKey`, and the callbacks. */
const SIGNATURE_OPTION_KEYS: ReadonlySet<string> = new Set([...[...APPLY_OPTION_KEYS].filter((k) => k !== 'idempotencyKey'), 'link', 'linkError']);

/**
 * Convert `.set()` options to their JSON form, checked by the same rules as `applyAsync`'s options
 * (so a bad option on a later chain step is refused here, not by the worker that publishes it).
 * @throws InvalidArgumentError naming the option (also a key that is not an option).
 */
export function optionsToJSON(o: SignatureOptions): SignatureOptionsJSON {
  if (typeof o !== 'object' || o === null) throw new InvalidArgumentError('set(options): options must be an object');
  const unknown = unknownKeyMessage(o, SIGNATURE_OPTION_KEYS, 'set() options');
  if (unknown) throw new InvalidArgumentError(unknown);
  const { link: _link, linkError: _linkError, ...call } = o;
  try {
    resolveApplyOptions(call);
  } catch (err) {
    if (!isInvalidArgumentError(err)) throw err;
    throw new InvalidArgumentError(`set(): ${err.message}`, { cause: err });
  }
  const out: SignatureOptionsJSON = {};
  for (const k of ['taskId', 'queue', 'priority', 'countdown', 'headers', 'timeLimit', 'softTimeLimit', 'ignoreResult'] as const) {
    if (o[k] !== undefined) (out as Record<string, unknown>)[k] = o[k];
  }
  if (o.eta) out.eta = o.eta.toISOString();
  if (o.expires !== undefined) out.expires = o.expires instanceof Date ? o.expires.toISOString() : o.expires;
  const link = linkList(o.link, 'set({ link })');
  const linkError = linkList(o.linkError, 'set({ linkError })');
  if (link) out.link = link;
  if (linkError) out.linkError = linkError;
  return out;
}

function mergeOptions(a: SignatureOptionsJSON | undefined, b: SignatureOptionsJSON): SignatureOptionsJSON {
  const out = { ...(a ?? {}), ...b };
  if (b.countdown !== undefined) delete out.eta;
  if (b.eta !== undefined) delete out.countdown;
  if (a?.link && b.link) out.link = [...a.link, ...b.link];
  if (a?.linkError && b.linkError) out.linkError = [...a.linkError, ...b.linkError];
  return out;
}

/**
 * Base of every signature and workflow: data (`toJSON()`), copies with more options (`set()`,
 * `clone()`), and `applyAsync()` through the app it came from. `R` is the type of its final value.
 */
export abstract class Workflow<R = unknown> {
  /** @internal the wire form. */
  protected readonly json: WorkflowJSON;
  /** @internal the app that applies it, if known. */
  readonly applier: WorkflowApplier | undefined;
  /** @internal phantom: the type of the final value. */
  declare readonly __result?: R;

  /** @internal */
  protected constructor(json: WorkflowJSON, applier: WorkflowApplier | undefined) {
    this.json = json;
    this.applier = applier;
  }

  /** The wire form (docs/protocol.md, "Workflows"): JSON- and msgpack-safe (a copy). */
  toJSON(): WorkflowJSON {
    return structuredClone(this.json);
  }

  /** @internal the wire form itself, not a copy: composing never mutates it (`set()` copies first). */
  get raw(): WorkflowJSON {
    return this.json;
  }

  /** A deep copy. */
  clone(): this {
    return this.with(structuredClone(this.json));
  }

  /**
   * A copy with these options added (they win over the ones it has; `link`/`linkError` add up).
   * @throws InvalidArgumentError for a bad option.
   */
  set(options: SignatureOptions): this {
    const json = structuredClone(this.json);
    const merged = mergeOptions(json.options, optionsToJSON(options));
    // Limits set by two calls are checked together (a soft limit must stay below the hard one).
    if (merged.timeLimit !== undefined && merged.softTimeLimit !== undefined) {
      try {
        resolveTimeLimits(merged.timeLimit, merged.softTimeLimit, 'options');
      } catch (err) {
        if (!isInvalidArgumentError(err)) throw err;
        throw new InvalidArgumentError(`set(): ${err.message} (with the limits set before)`, { cause: err });
      }
    }
    json.options = merged;
    return this.with(json);
  }

  /** A copy that also runs `callback` with this one's result once it succeeds. */
  link(callback: Workflow): this {
    return this.set({ link: callback });
  }

  /** A copy that also runs `errback` with `(taskId, error)` if it fails for good. */
  linkError(errback: Workflow): this {
    return this.set({ linkError: errback });
  }

  /** @internal same class, other data. */
  protected abstract with(json: WorkflowJSON): this;

  /** @internal */
  protected requireApplier(): WorkflowApplier {
    if (!this.applier) {
      throw new InvalidArgumentError(
        'this workflow has no app to publish through: build its signatures with task.s() / app.signature(), or rebuild it with app.workflow(json)',
      );
    }
    return this.applier;
  }
}

/**
 * One task call, possibly partial: in a chain, the parent's result is prepended to its arguments
 * (`chain(add.s(2, 2), add.s(4))` computes `add(4, 4)`) unless it is immutable (`task.si()`).
 */
export class Signature<R = unknown> extends Workflow<R> {
  /** @internal use `task.s()`, `task.si()` or `app.signature()`. */
  constructor(json: TaskSignatureJSON, applier: WorkflowApplier | undefined) {
    super(json, applier);
  }

  /** Task name. */
  get task(): string {
    return (this.json as TaskSignatureJSON).task;
  }

  /** Its (partial) arguments. */
  get args(): readonly unknown[] {
    return (this.json as TaskSignatureJSON).args ?? [];
  }

  /** True when a chain does not prepend the parent's result. */
  get immutable(): boolean {
    return (this.json as TaskSignatureJSON).immutable === true;
  }

  protected with(json: WorkflowJSON): this {
    return new Signature<R>(json as TaskSignatureJSON, this.applier) as this;
  }

  /**
   * Publish the task; `args` go before the signature's own (partial) arguments.
   * @throws InvalidArgumentError for a bad option, PayloadTooLargeError, QueueFullError, PublishError
   */
  async applyAsync(args: readonly unknown[] = [], options?: SignatureOptions): Promise<AsyncResult<R>> {
    const applier = this.requireApplier();
    const w = options ? this.set(options) : this;
    const frozen = await applier.applyWorkflow(w.json, args.length ? args : null);
    return applier.resultsOf(frozen).final as AsyncResult<R>;
  }

  /** Publish with these arguments before the partial ones. */
  delay(...args: unknown[]): Promise<AsyncResult<R>> {
    return this.applyAsync(args);
  }
}

/** Tasks run one after another, each receiving the previous result. Its result is the last one's. */
export class Chain<R = unknown> extends Workflow<R> {
  /** @internal use {@link chain}. */
  constructor(json: ChainJSON, applier: WorkflowApplier | undefined) {
    super(json, applier);
  }

  protected with(json: WorkflowJSON): this {
    return new Chain<R>(json as ChainJSON, this.applier) as this;
  }

  /**
   * Publish the first task (the rest of the chain travels in its message). `args` go before the
   * first task's own arguments.
   */
  async applyAsync(args: readonly unknown[] = []): Promise<WorkflowResult<R>> {
    return applyAndWrap<R>(this.requireApplier(), this.json, args);
  }
}

/** Tasks run in parallel. Its result is the list of their results, in order. */
export class Group<T = unknown> extends Workflow<T[]> {
  /** @internal use {@link group}. */
  constructor(json: GroupJSON, applier: WorkflowApplier | undefined) {
    super(json, applier);
  }

  protected with(json: WorkflowJSON): this {
    return new Group<T>(json as GroupJSON, this.applier) as this;
  }

  /** Publish every member; `args` go before each member's own arguments. */
  async applyAsync(args: readonly unknown[] = []): Promise<GroupResult<T>> {
    const applier = this.requireApplier();
    const frozen = await applier.applyWorkflow(this.json, args.length ? args : null);
    return applier.resultsOf(frozen).final as GroupResult<T>;
  }
}

/**
 * A header group whose list of results (in header order) is passed to the body once every member
 * finished. The body runs exactly once; if a member fails, the body does not run and the chord fails
 * with a `ChordError`, unless built with `{ allowPartial: true }`.
 */
export class Chord<R = unknown> extends Workflow<R> {
  /** @internal use {@link chord}. */
  constructor(json: ChordJSON, applier: WorkflowApplier | undefined) {
    super(json, applier);
  }

  protected with(json: WorkflowJSON): this {
    return new Chord<R>(json as ChordJSON, this.applier) as this;
  }

  /** Publish the header; `args` go before each header member's own arguments. */
  async applyAsync(args: readonly unknown[] = []): Promise<WorkflowResult<R>> {
    return applyAndWrap<R>(this.requireApplier(), this.json, args);
  }
}

async function applyAndWrap<R>(applier: WorkflowApplier, json: WorkflowJSON, args: readonly unknown[]): Promise<WorkflowResult<R>> {
  const frozen = await applier.applyWorkflow(json, args.length ? args : null);
  const { final, tasks } = applier.resultsOf(frozen);
  return new WorkflowResult<R>(final as unknown as AsyncResult<R>, tasks);
}

type ResultOf<W> = W extends Workflow<infer R> ? R : unknown;
type Last<T extends readonly unknown[]> = T extends readonly [...unknown[], infer L] ? L : T extends ReadonlyArray<infer E> ? E : never;

function applierOf(ws: readonly Workflow[]): WorkflowApplier | undefined {
  for (const w of ws) if (w.applier) return w.applier;
  return undefined;
}

function members(ws: readonly unknown[], what: string): Workflow[] {
  return ws.map((w, i) => {
    if (!(w instanceof Workflow)) throw new InvalidArgumentError(`${what}: element ${i} is not a signature or workflow (use task.s(), chain(), group(), chord())`);
    return w;
  });
}

/**
 * Run tasks one after another; each gets the previous result prepended to its arguments.
 * @example
 * const r = await chain(add.s(2, 2), add.s(4), add.s(8)).applyAsync();
 * await r.get(); // 16
 */
export function chain<W extends readonly [Workflow, ...Workflow[]]>(...tasks: W): Chain<ResultOf<Last<W>>> {
  const ws = members(tasks, 'chain()');
  if (ws.length === 0) throw new InvalidArgumentError('chain() needs at least one signature');
  return new Chain({ subtask_type: 'chain', tasks: ws.map((w) => w.raw) }, applierOf(ws));
}

/**
 * Run tasks in parallel; the result is the list of their results, in order. Takes signatures as
 * arguments or one array. A group nested in a group is flattened into it.
 * @example
 * const g = await group(add.s(1, 1), add.s(2, 2)).applyAsync();
 * await g.get(); // [2, 4]
 */
export function group<T>(tasks: ReadonlyArray<Workflow<T>>): Group<T>;
export function group<W extends readonly Workflow[]>(...tasks: W): Group<ResultOf<W[number]>>;
export function group(...tasks: unknown[]): Group<unknown> {
  const list = tasks.length === 1 && Array.isArray(tasks[0]) ? (tasks[0] as unknown[]) : tasks;
  const ws = members(list, 'group()');
  return new Group({ subtask_type: 'group', tasks: ws.map((w) => w.raw) }, applierOf(ws));
}

/** Options of {@link chord}. */
export interface ChordOptions {
  /**
   * The body runs even if members fail, and receives one `PromiseSettledResult` per member
   * (`{ status: 'fulfilled', value }` or `{ status: 'rejected', reason }`) instead of values.
   * @defaultValue false
   */
  allowPartial?: boolean;
}

/**
 * Run the header in parallel, then the body once with the list of header results (header order).
 * @example
 * const r = await chord([add.s(1, 1), add.s(2, 2)], tsum.s()).applyAsync();
 * await r.get(); // 6
 */
export function chord<B extends Workflow>(header: Group | readonly Workflow[], body: B, options: ChordOptions = {}): Chord<ResultOf<B>> {
  const hs = header instanceof Group ? (header.raw as GroupJSON).tasks : members(header as readonly unknown[], 'chord() header').map((w) => w.raw);
  const [b] = members([body], 'chord() body');
  if (options.allowPartial !== undefined && typeof options.allowPartial !== 'boolean') throw new InvalidArgumentError('chord() options.allowPartial must be a boolean');
  const json: ChordJSON = { subtask_type: 'chord', header: hs, body: (b as Workflow).raw };
  const groupOptions = header instanceof Group ? (header.raw as GroupJSON).options : undefined;
  const opts: SignatureOptionsJSON = { ...(groupOptions ?? {}), ...(options.allowPartial ? { allowPartial: true } : {}) };
  if (Object.keys(opts).length) json.options = opts;
  const applier = (header instanceof Group ? header.applier : applierOf(header as readonly Workflow[])) ?? (b as Workflow).applier;
  return new Chord(json, applier);
}

/**
 * Rebuild a signature or workflow from its wire form (`toJSON()`, or JSON written by hand).
 * @throws InvalidArgumentError naming the first bad field.
 */
export function workflowFromJSON(json: unknown, applier: WorkflowApplier | undefined): Workflow {
  let w: WorkflowJSON;
  try {
    w = validateWorkflow(json, 'workflow');
  } catch (err) {
    throw new InvalidArgumentError((err as Error).message, { cause: err });
  }
  const copy = structuredClone(w);
  if (isTaskSignatureJSON(copy)) return new Signature(copy, applier);
  switch (copy.subtask_type) {
    case 'chain':
      return new Chain(copy, applier);
    case 'group':
      return new Group(copy, applier);
    case 'chord':
      return new Chord(copy, applier);
  }
}
