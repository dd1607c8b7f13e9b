import { newTaskId } from '../util/task-id.ts';
import { ChordError, type SerializedError, isPayloadTooLargeError, serializeError } from '../errors.ts';
import { type TaskMessage, hasContinuation } from '../protocol/envelope.ts';
import { type ChordMembership, type SignatureOptionsJSON, type WorkflowJSON, isTaskSignatureJSON } from '../protocol/workflow-json.ts';
import { type IdFor, type PlannedTask, chainOf, derivedId, failurePlan, finalTaskIds, planStart, prepare, taskIds } from '../canvas/freeze.ts';
import { ATTR } from '../telemetry/attributes.ts';
import { endSpan, startInternalSpan, withSpanContext } from '../telemetry/tracing.ts';
import type { Continuation } from '../execution/executor.ts';
import type { ChordJoins, MemberOutcome } from '../results/chord-join.ts';
import { blobMarker, hasBlobMarkers } from '../results/result-ref.ts';
import type { ResultBackend } from '../results/result-backend.ts';
import { type ResultRecord, newRecord } from '../results/states.ts';
import { baseQueue } from './app-options.ts';
import type { PublishRequest } from './publish.ts';
import type { ApplyOptions } from './task-options.ts';

/** What the runtime needs from its app. */
export interface WorkflowHost {
  readonly options: { readonly defaultQueue: string };
  publishBatch(items: readonly PublishRequest[]): Promise<void>;
  resultBackend(): Promise<ResultBackend>;
  chordJoins(): Promise<ChordJoins>;
  /** Send a stored terminal record to a client's reply subject. */
  notifyResult(replyTo: string, taskId: string, record: ResultRecord): void;
  /** Expect routed results for these ids (client side). */
  trackRouted(ids: readonly string[]): void;
}

/** Where continuation publishes come from. */
interface Origin {
  rootId: string | undefined;
  parentId: string | null;
  /** Inherited reply subject; undefined on the client (the app routes to itself). */
  replyTo: string | null | undefined;
  fallbackQueue: string;
}

/** A workflow a continuation publishes (the rest of a chain, a callback, a chord body) and its first tasks. */
interface Unit {
  w: WorkflowJSON;
  planned: PlannedTask[];
}

const ISO_DATE = /^\d{4}-\d{2}-\d{2}T/;

/**
 * Codes of the errors a publish throws when the message itself is bad (an option out of range, a
 * body over `maxPayloadBytes`, arguments nested too deep, headers too large, a value over
 * `maxResultBytes`). Such a publish fails the same way on every redelivery, so a continuation that
 * meets one fails the workflow it could not publish instead of handing the message back. Any other
 * error (connection lost, no ack in time, a full stream, a middleware's own error) is taken as
 * passing: the finished task's message goes back to the queue and its redelivery publishes again.
 */
const PERMANENT_PUBLISH_CODES: ReadonlySet<string> = new Set(['E_INVALID_ARGUMENT', 'E_PAYLOAD_TOO_LARGE', 'E_NESTING_TOO_DEEP', 'E_HEADERS_TOO_LARGE', 'E_RESULT_TOO_LARGE']);

/** True when publishing failed because of the message itself (it would fail again on a redelivery). */
export function isPermanentPublishError(err: unknown): boolean {
  const code = typeof err === 'object' && err !== null ? (err as { code?: unknown }).code : undefined;
  return typeof code === 'string' && PERMANENT_PUBLISH_CODES.has(code);
}

/** The error stored for the tasks of a workflow step that could not be published: the publish error, naming the step. */
function publishFailure(u: Unit, err: unknown): SerializedError {
  const s = serializeError(err);
  const first = u.planned[0];
  const step =
    u.planned.length === 1 && first
      ? `task "${first.sig.task}" (id ${first.sig.options?.taskId ?? '?'})`
      : `${u.planned.length} tasks: ${[...new Set(u.planned.map((p) => `"${p.sig.task}"`))].join(', ')}`;
  s.message = `the next workflow step, ${step}, could not be published: ${s.message}`;
  s.data ??= { tasks: u.planned.map((p) => ({ task: p.sig.task, taskId: p.sig.options?.taskId ?? null })) };
  return s;
}

/** `.set()` options (JSON form) as `applyAsync` options. */
export function applyOptionsOf(o: SignatureOptionsJSON | undefined): ApplyOptions | undefined {
  if (!o) return undefined;
  const out: ApplyOptions = {};
  if (o.taskId !== undefined) out.taskId = o.taskId;
  if (o.queue !== undefined) out.queue = o.queue;
  if (o.priority !== undefined) out.priority = o.priority;
  if (o.headers !== undefined) out.headers = o.headers;
  if (o.countdown !== undefined) out.countdown = o.countdown;
  if (o.eta !== undefined) out.eta = new Date(o.eta);
  if (o.expires !== undefined) out.expires = typeof o.expires === 'string' && ISO_DATE.test(o.expires) ? new Date(o.expires) : o.expires;
  if (o.ignoreResult !== undefined) out.ignoreResult = o.ignoreResult;
  if (o.timeLimit !== undefined) out.timeLimit = o.timeLimit;
  if (o.softTimeLimit !== undefined) out.softTimeLimit = o.softTimeLimit;
  return out;
}

/**
 * Runs workflows without a coordinator: a client freezes and publishes the first tasks; the rest
 * travels in the messages (`embed`), and the worker that finishes a task publishes what comes next
 * (chain step, `link`, `linkError`), records chord joins and publishes a chord's body once
 * (docs/guide/canvas.md). Every id a worker derives is a function of the finishing task's id, so a
 * redelivered task publishes the same messages again and the broker drops the copies.
 */
export class WorkflowRuntime {
  constructor(private readonly host: WorkflowHost) {}

  /** Freeze `w` and publish its first tasks; resolves with the frozen workflow. */
  async apply(w: WorkflowJSON, prepend: readonly unknown[] | null): Promise<WorkflowJSON> {
    const frozen = prepare(w, newTaskId);
    const planned = planStart(frozen, prepend);
    // Only final results are sent back to this client (see the settler); the others are read from the store.
    this.host.trackRouted(finalTaskIds(frozen));
    const rootId = planned[0]?.sig.options?.taskId;
    // One span for the workflow: the publishes of its first tasks, and through them every later
    // step, are in its trace.
    const kind = isTaskSignatureJSON(frozen) ? 'task' : frozen.subtask_type;
    const { span, ctx } = startInternalSpan(`apply ${kind}`, { 'celeriac.workflow.kind': kind, 'celeriac.workflow.tasks': taskIds(frozen).length, ...(rootId ? { [ATTR.rootId]: rootId } : {}) });
    try {
      await withSpanContext(ctx, () => this.#publish(planned, { rootId, parentId: null, replyTo: undefined, fallbackQueue: this.host.options.defaultQueue }));
    } catch (err) {
      endSpan(span, err);
      throw err;
    }
    endSpan(span);
    return frozen;
  }

  /**
   * What the worker does after `task` reached the final `record` (before it acks): `children` are
   * the ids it publishes (stored in the record), `run` publishes them and records chord joins.
   * Null when the message carries no workflow.
   */
  continuation(task: TaskMessage, record: ResultRecord, queue: string): Continuation | null {
    const e = task.embed;
    if (!hasContinuation(e)) return null;
    const origin: Origin = { rootId: task.rootId, parentId: task.id, replyTo: task.replyTo, fallbackQueue: baseQueue(queue) };
    const ids = (role: string): IdFor => (path) => derivedId(task.id, `${role}:${path}`);
    const units: Unit[] = [];
    const unit = (w: WorkflowJSON, prepend: readonly unknown[]): void => void units.push({ w, planned: planStart(w, prepend) });
    const children = (): string[] => units.flatMap((u) => u.planned.map((p) => p.sig.options?.taskId ?? ''));
    if (record.status === 'SUCCESS') {
      // A large value travels as a reference, read back by the worker that runs the next step (ADR 0012).
      const value = record.resultRef ? blobMarker(record.resultRef) : record.result;
      e.callbacks?.forEach((l, i) => unit(prepare(l, ids(`link${i}`)), [value]));
      if (e.chain) unit(prepare(chainOf(e.chain), ids('chain')), [value]);
      return {
        children: children(),
        run: async () => {
          await this.#publishOrFail(units, origin);
          if (e.chord) await this.#join(e.chord, { ok: true, value, taskId: task.id }, origin);
        },
      };
    }
    const error: SerializedError = record.error ?? { name: record.status, message: `task ${task.id} ended in state ${record.status}` };
    e.errbacks?.forEach((l, i) => unit(prepare(l, ids(`err${i}`)), [task.id, error]));
    return {
      children: children(),
      run: async () => {
        await this.#publishOrFail(units, origin);
        // The rest of the chain will never run: its tasks fail with this error, and chords waiting
        // for them hear of it.
        if (e.chain) await this.#fail([prepare(chainOf(e.chain), ids('chain'))], error, origin);
        if (e.chord) await this.#join(e.chord, { ok: false, error, taskId: task.id }, origin);
      },
    };
  }

  async #publish(planned: readonly PlannedTask[], origin: Origin, idempotent = false): Promise<void> {
    if (planned.length === 0) return;
    await this.host.publishBatch(
      planned.map((p) => ({
        name: p.sig.task,
        args: p.args,
        options: applyOptionsOf(p.sig.options),
        extra: {
          embed: p.embed,
          group: p.group,
          rootId: origin.rootId ?? p.sig.options?.taskId,
          parentId: origin.parentId,
          ...(origin.replyTo !== undefined ? { replyTo: origin.replyTo } : {}),
          fallbackQueue: origin.fallbackQueue,
          idempotent,
        },
      })),
    );
  }

  /**
   * Publish the first tasks of `units` in one batch. When that fails because a message is bad
   * ({@link isPermanentPublishError}: nothing was sent), publish them unit by unit, and store every
   * task of a unit that cannot be published as failed with that error (the chords outside it hear
   * of it), as for a step that failed: its `get()` rejects instead of waiting for ever. Other errors
   * are thrown (the message goes back to the queue; its redelivery publishes the same ids again).
   */
  async #publishOrFail(units: readonly Unit[], origin: Origin, idempotent = false): Promise<void> {
    try {
      await this.#publish(units.flatMap((u) => u.planned), origin, idempotent);
      return;
    } catch (err) {
      if (!isPermanentPublishError(err)) throw err;
      if (units.length === 1 && units[0]) return this.#fail([units[0].w], publishFailure(units[0], err), origin);
    }
    for (const u of units) {
      try {
        await this.#publish(u.planned, origin, idempotent);
      } catch (err) {
        if (!isPermanentPublishError(err)) throw err;
        await this.#fail([u.w], publishFailure(u, err), origin);
      }
    }
  }

  /**
   * Publish a chord's body with the header's values. When the body is over the payload limit with
   * the values inline, the list goes to the blob bucket and the body gets a reference to it, read
   * back by the worker that runs it (ADR 0012), as for a large result.
   */
  async #publishBody(body: WorkflowJSON, value: unknown[], chordId: string, origin: Origin): Promise<void> {
    const inline: Unit = { w: body, planned: planStart(body, [value]) };
    try {
      await this.#publish(inline.planned, origin, true);
      return;
    } catch (err) {
      if (!isPermanentPublishError(err)) throw err;
      // Values that are references already (large member results) are not stored again.
      if (!isPayloadTooLargeError(err) || hasBlobMarkers([value])) return this.#fail([body], publishFailure(inline, err), origin);
    }
    const backend = await this.host.resultBackend();
    let stored: ResultRecord;
    try {
      stored = await backend.externalize(newRecord({ status: 'SUCCESS', taskId: `${chordId}.body-args`, name: `chord ${chordId} body arguments`, result: value, attempt: null }));
    } catch (err) {
      if (!isPermanentPublishError(err)) throw err;
      return this.#fail([body], publishFailure(inline, err), origin);
    }
    const arg = stored.resultRef ? blobMarker(stored.resultRef) : value;
    await this.#publishOrFail([{ w: body, planned: planStart(body, [arg]) }], origin, true);
  }

  /** Record a header member's outcome; the member that completes the join publishes the body (or fails the chord). */
  async #join(m: ChordMembership, outcome: MemberOutcome, origin: Origin): Promise<void> {
    const joins = await this.host.chordJoins();
    const d = await joins.record(m, outcome);
    if (d.action === 'none') return;
    const body = prepare(m.body, (path) => derivedId(m.id, `body:${path}`));
    if (d.action === 'fire') {
      const outcomes = d.outcomes;
      const value: unknown[] = m.allowPartial
        ? outcomes.map((o) => (o.ok ? { status: 'fulfilled', value: o.value } : { status: 'rejected', reason: { ...o.error, taskId: o.taskId } }))
        : outcomes.map((o) => (o.ok ? o.value : null));
      // The body's id is fixed and it carries an idempotency key: published once, run once.
      await this.#publishBody(body, value, m.id, origin);
    } else if (d.action === 'fail') {
      const err = serializeError(new ChordError(m.id, d.index, d.taskId, d.error));
      err.cause = d.error;
      await this.#fail([body], err, origin);
    }
  }

  /** Mark every task of workflows that will never run as failed, and tell the chords outside them. */
  async #fail(ws: readonly WorkflowJSON[], error: SerializedError, origin: Origin): Promise<void> {
    const { ids, joins } = failurePlan(ws);
    const backend = await this.host.resultBackend();
    await Promise.all(
      ids.map(async (id) => {
        const record = newRecord({ status: 'FAILURE', taskId: id, error, meta: { reason: 'not-run', failedBy: origin.parentId } });
        if ((await backend.writer(id, null).write(record)) === 'written' && origin.replyTo) this.host.notifyResult(origin.replyTo, id, record);
      }),
    );
    for (const { membership, taskId } of joins) await this.#join(membership, { ok: false, error, taskId }, origin);
  }
}
