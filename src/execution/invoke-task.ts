/**
 * The invocation of a task's body for one run: on this thread (an io task, or a cpu task without a
 * pool), in a CPU thread (the pool, or a quarantine thread), or inside the app's execute middleware;
 * each way ends in the {@link TaskOutcome}, or in the outcome of a kill (hard limit, terminate).
 * @module
 */
import { deserializeError, serializeError } from '../errors.ts';
import type { Composed } from '../middleware/compose.ts';
import type { TaskMessage } from '../protocol/envelope.ts';
import type { OutcomeSink } from './attempt.ts';
import type { CpuPool } from './cpu-pool.ts';
import { shouldAutoretry } from './retry-policy.ts';
import type { ExecuteInput, TaskContext, TaskDefinition, TaskOutcome } from './task-definition.ts';
import type { TaskRun } from './task-run.ts';

/** The outcome a failed execution came from (a CPU task's error crosses the thread as data). */
const OUTCOME = Symbol('celeriac.outcome');

/** The outcome of a task function that threw or rejected with `err`. */
function failedOutcome(def: TaskDefinition, err: unknown): TaskOutcome {
  return { ok: false, error: serializeError(err), autoretry: shouldAutoretry(def.retry, err) };
}

/**
 * Run the body of `task` (arguments `args`) as `run`: through `chain` when the app has execute
 * middleware for it, else in `pool` when it runs on a thread, else here. The outcome goes to `sink`,
 * whichever comes first: the body's outcome or a kill (hard limit, terminate), which abandons the
 * body's own promise. No promise of its own: a task waiting in its slot holds only the reaction on
 * the body's promise (ADR 0016).
 */
export function invokeTask(
  def: TaskDefinition,
  task: TaskMessage,
  run: TaskRun,
  args: unknown[],
  pool: Pick<CpuPool, 'run'> | undefined,
  chain: Composed<ExecuteInput, unknown> | null,
  sink: OutcomeSink,
): void {
  if (chain) {
    // The execute middleware wraps the body on this thread, for io and cpu tasks alike. A kill
    // (hard limit, revoke with terminate) still ends the wait at once.
    run.onKill(sink);
    let ran: Promise<unknown>;
    try {
      ran = chain({ task: task.task, args, ctx: run }, (input) => invokeBody(pool, def, task, run, input.args));
    } catch (err) {
      sink.fail(err);
      return;
    }
    ran.then(
      (value) => sink.deliver({ ok: true, value }),
      (err: unknown) => {
        const carried = typeof err === 'object' && err !== null ? (err as { [OUTCOME]?: TaskOutcome })[OUTCOME] : undefined;
        sink.deliver(carried ?? { ok: false, error: serializeError(err), autoretry: shouldAutoretry(def.retry, err) });
      },
    );
    return;
  }
  if (pool) {
    pool
      .run(task.task, args, run.data(), {
        signal: run.signal,
        kill: run.killSignal,
        onState: (state, meta) => void run.setState(state, meta).catch(() => undefined),
      })
      .then(
        (outcome) => sink.deliver(outcome),
        (err: unknown) => sink.fail(err),
      );
    return;
  }
  run.onKill(sink);
  // No named closure per task here: under tsx (keepNames) each one costs a defineProperty.
  try {
    const v = (def.fn as unknown as (c: TaskContext, ...a: unknown[]) => unknown)(run, ...args);
    if (v !== null && typeof v === 'object' && typeof (v as PromiseLike<unknown>).then === 'function') {
      (v as PromiseLike<unknown>).then(
        (value) => sink.deliver({ ok: true, value }),
        (err: unknown) => sink.deliver(failedOutcome(def, err)),
      );
    } else sink.deliver({ ok: true, value: v });
  } catch (err) {
    sink.deliver(failedOutcome(def, err));
  }
}

/** The innermost step of the execute chain: the task body, on this thread or in the pool. */
async function invokeBody(pool: Pick<CpuPool, 'run'> | undefined, def: TaskDefinition, task: TaskMessage, run: TaskRun, args: readonly unknown[]): Promise<unknown> {
  if (!pool) return (def.fn as unknown as (c: TaskContext, ...a: unknown[]) => unknown)(run, ...args);
  const o = await pool.run(task.task, [...args], run.data(), {
    signal: run.signal,
    kill: run.killSignal,
    onState: (state, meta) => void run.setState(state, meta).catch(() => undefined),
  });
  if (o.ok) return o.value;
  // The thread's error, rebuilt for the middleware; the executor uses the outcome it came from.
  const err = deserializeError(o.error);
  Object.defineProperty(err, OUTCOME, { value: o });
  throw err;
}
