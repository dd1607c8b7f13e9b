/**
 * The admission of a decoded task: the checks before it runs (revoked, unknown here, expired, not
 * due yet, finished already, crash attribution and quarantine) and the claim of its attempt. A task
 * that fails a check is settled without a run.
 * @module
 */
import type { TaskMessage } from '../protocol/envelope.ts';
import { H } from '../protocol/headers.ts';
import type { ResultWriteHandle } from '../results/result-backend.ts';
import type { IncomingMessage } from '../transport/transport.ts';
import { attemptRecord } from './attempt-record.ts';
import type { ExecutorOptions } from './executor-options.ts';
import type { HandBack } from './hand-back.ts';
import { argsPreview } from './inspect-views.ts';
import type { Settler } from './settler.ts';
import { type TaskDefinition, workerTaskDefinition } from './task-definition.ts';
import type { WriteRecord } from './task-run.ts';

/**
 * Worker deaths during a task's isolated (quarantine) runs that dead-letter it. A death of the
 * quarantine thread itself convicts at once; a death of the whole process may be another task's
 * doing (a poison message on the main thread), so it takes two.
 */
const ISOLATED_DEATHS_TO_CONVICT = 2;

/** The executor options a {@link TaskAdmission} reads. */
export type TaskAdmissionOptions = Pick<ExecutorOptions, 'appName' | 'findDefinition' | 'hostname' | 'backend' | 'logger' | 'events' | 'revocations' | 'ledger' | 'maxCrashes' | 'quarantine'>;

/** Run an admitted task (the executor's run: span, time limits, body, settle). */
export type RunAdmitted = (task: TaskMessage, msg: IncomingMessage, def: TaskDefinition, writer: ResultWriteHandle | null, quarantine: boolean) => Promise<void>;

/** Decides whether a decoded task runs now, is looked up first, or is settled without a run. */
export class TaskAdmission {
  readonly #o: TaskAdmissionOptions;
  readonly #settler: Settler;
  readonly #handBack: HandBack;
  readonly #write: WriteRecord;
  readonly #run: RunAdmitted;

  /**
   * @param settler - what settles a task that does not run (its hand-back included)
   * @param write - how records are written (the executor's `writeResult`, or a direct write)
   * @param run - what runs a task admitted after a look-up (a redelivery, a keyed, retried or delayed task)
   */
  constructor(options: TaskAdmissionOptions, settler: Settler, write: WriteRecord, run: RunAdmitted) {
    this.#o = options;
    this.#settler = settler;
    this.#handBack = settler.handBack;
    this.#write = write;
    this.#run = run;
  }

  /**
   * The checks that need no I/O: the task's definition when it runs now (a first delivery with
   * nothing to look up), otherwise the promise of what happens instead (revoked, unknown, expired or
   * not due yet: settled without a run; a redelivery or a keyed, retried or delayed task: looked up,
   * then run or settled).
   */
  admit(task: TaskMessage, msg: IncomingMessage): TaskDefinition | Promise<void> {
    const d = msg.delivery.deliveryCount;
    const events = this.#o.events;
    // Fields only when they say something (events are serialised by the ten thousand).
    if (events?.enabled) {
      // The arguments (cut at 200 characters) and the trace id, as Celery's argsrepr: the message
      // is gone once acknowledged, so monitors (the dashboard) learn them here.
      const fields: Record<string, unknown> = d > 1 || task.retries > 0 || task.eta !== null ? { queue: msg.queue, retries: task.retries, delivery: d, eta: task.eta } : { queue: msg.queue };
      fields.args = argsPreview(task.args);
      const tp = msg.header(H.traceparent);
      if (tp && tp.length >= 55) fields.trace = tp.slice(3, 35);
      events.emit('task-received', task.id, task.task, fields);
    }
    const revocation = this.#o.revocations?.get(task.id);
    if (revocation) {
      this.#o.logger.info('task revoked: not run', { task: task.task, id: task.id });
      return this.#settler.skip(task, msg, 'REVOKED', { name: 'TaskRevokedError', message: `task ${task.id} was revoked`, code: 'E_REVOKED' }, { reason: 'revoked' });
    }
    const def = workerTaskDefinition(this.#o.appName, task.task, this.#o.findDefinition);
    if (!def) return this.#handBack.unknown(task, msg);
    const now = Date.now();
    if (task.expires !== null && task.expires <= now) {
      this.#o.logger.info('task expired before it started: not run', { task: task.task, id: task.id, expires: new Date(task.expires).toISOString() });
      return this.#settler.skip(task, msg, 'REVOKED', { name: 'TaskExpired', message: 'expired before it started', code: 'E_EXPIRED' }, { reason: 'expired' });
    }
    if (task.eta !== null && task.eta > now) return this.#handBack.notYet(task, msg, task.eta - now);
    // A retried or delayed task's key already holds its RETRY / SCHEDULED record: reading it first
    // (one get) spares the result write a failed compare-and-set, a get and a second put.
    if (d > 1 || task.idempotencyKey !== null || (!task.ignoreResult && (task.retries > 0 || task.eta !== null))) return this.#admitKnown(task, msg, def);
    return def;
  }

  /**
   * A redelivery, or a keyed, retried or delayed task: finished already? Then only settle it.
   * A redelivery is also charged to the crash ledger (quarantined or dead-lettered when it keeps
   * killing workers) and claims its attempt before it runs.
   */
  async #admitKnown(task: TaskMessage, msg: IncomingMessage, def: TaskDefinition): Promise<void> {
    const d = msg.delivery.deliveryCount;
    const seq = msg.delivery.sequence;
    const attempt = { sequence: seq, delivery: d };
    const useResults = !task.ignoreResult;
    const stored = useResults ? await this.#o.backend.getEntry(task.id) : null;
    if (stored && (stored.record.status === 'SUCCESS' || stored.record.status === 'FAILURE' || stored.record.status === 'REVOKED')) {
      await this.#settler.alreadyDone(task, msg, def, stored.record);
      return;
    }
    const writer = useResults ? this.#o.backend.writer(task.id, attempt, stored?.revision ?? 0) : null;
    let quarantine = false;
    if (d > 1) {
      const { crashes, isolatedCrashes } = await this.#o.ledger.recordRedelivery(task.id, seq, d);
      if (crashes >= this.#o.maxCrashes) {
        // Every task in flight on a worker that died is charged a crash, so the count alone does
        // not name the killer. Evidence does: its quarantine thread dying under it (settled where
        // the run ends), two worker deaths while it ran isolated (one could be another task's:
        // the main thread keeps running other tasks), or no quarantine to run it in. Otherwise it
        // runs alone in a quarantine thread.
        if (isolatedCrashes >= ISOLATED_DEATHS_TO_CONVICT || !this.#o.quarantine) {
          await this.#settler.crashed(task, msg, def, writer, crashes);
          return;
        }
        quarantine = true;
        await this.#o.ledger.recordIsolated(task.id, seq, d);
      }
    }
    if (d > 1 && writer) {
      // Claim this attempt: from now on, writes of earlier attempts of this message are rejected.
      const claim = await this.#write(writer, attemptRecord(this.#o.hostname, task, msg, 'STARTED', { meta: { redelivered: true } }));
      if (claim !== 'written') {
        await this.#settler.settleLost(task, msg, claim);
        return;
      }
    }
    await this.#run(task, msg, def, writer, quarantine);
  }
}
