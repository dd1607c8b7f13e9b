import { newTaskId } from '../util/task-id.ts';
import { ChordError, type SerializedError, serializeError } from '../errors.ts';
import { type TaskMessage, hasContinuation } from '../protocol/envelope.ts';
import { type ChordMembership, type SignatureOptionsJSON, type WorkflowJSON, isTaskSignatureJSON } from '../protocol/workflow-json.ts';
import { type IdFor, type PlannedTask, chainOf, derivedId, failurePlan, finalTaskIds, planStart, prepare, taskIds } from '../canvas/freeze.ts';
import { ATTR } from '../telemetry/attributes.ts';
import { endSpan, startInternalSpan, withSpanContext } from '../telemetry/tracing.ts';
import type { Continuation } from '../execution/executor.ts';
import type { ChordJoins, MemberOutcome } from '../results/chord-join.ts';
import { blobMarker } from '../results/result-ref.ts';
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

const ISO_DATE = /^\d{4}-\d{2}-\d{2}T/;

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
    const planned: PlannedTask[] = [];
    if (record.status === 'SUCCESS') {
      // A large value travels as a reference, read back by the worker that runs the next step (ADR 0012).
      const value = record.resultRef ? blobMarker(record.resultRef) : record.result;
      e.callbacks?.forEach((l, i) => planned.push(...planStart(prepare(l, ids(`link${i}`)), [value])));
      if (e.chain) planned.push(...planStart(prepare(chainOf(e.chain), ids('chain')), [value]));
      return {
        children: planned.map((p) => p.sig.options?.taskId ?? ''),
        run: async () => {
          await this.#publish(planned, origin);
          if (e.chord) await this.#join(e.chord, { ok: true, value, taskId: task.id }, origin);
        },
      };
    }
    const error: SerializedError = record.error ?? { name: record.status, message: `task ${task.id} ended in state ${record.status}` };
    e.errbacks?.forEach((l, i) => planned.push(...planStart(prepare(l, ids(`err${i}`)), [task.id, error])));
    return {
      children: planned.map((p) => p.sig.options?.taskId ?? ''),
      run: async () => {
        await this.#publish(planned, origin);
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

  /** Record a header member's outcome; the member that completes the join publishes the body (or fails the chord). */
  async #join(m: ChordMembership, outcome: MemberOutcome, origin: Origin): Promise<void> {
    const joins = await this.host.chordJoins();
    const d = await joins.record(m, outcome);
    if (d.action === 'none') return;
    const body = prepare(m.body, (path) => derivedId(m.id, `body:${path}`));
    if (d.action === 'fire') {
      const outcomes = d.outcomes;
      const value = m.allowPartial
        ? outcomes.map((o) => (o.ok ? { status: 'fulfilled', value: o.value } : { status: 'rejected', reason: { ...o.error, taskId: o.taskId } }))
        : outcomes.map((o) => (o.ok ? o.value : null));
      // The body's id is fixed and it carries an idempotency key: published once, run once.
      await this.#publish(planStart(body, [value]), origin, true);
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
