import { EVENTS_SWITCH_KEY } from '../actors/worker-app.ts';
import type { ActiveQueue, ScheduledReport } from '../actors/worker-reports.ts';
import { InvalidArgumentError } from '../errors.ts';
import { validateTaskId, validateTaskName, validateToken } from '../protocol/names.ts';
import type { ControlCommand, ControlReply } from '../protocol/control.ts';
import type { ActiveTask, ReservedTask } from '../execution/executor.ts';
import { type BroadcastOptions, broadcast } from './remote-control.ts';
import type { ResultBackend } from '../results/result-backend.ts';
import type { Revocations } from '../results/revocations.ts';
import { newRecord } from '../results/states.ts';
import type { KeyValueStore, Transport } from '../transport/transport.ts';
import { parseRate } from '../util/rate.ts';

/** Key prefix of run-time rate limits in the `<app>-control` bucket (`celeriac control rate-limit`). */
export const RATE_LIMIT_KEY_PREFIX = 'rate-limit.';

/** Replies of {@link Control.inspect}, one per worker that answered. */
export interface Inspect {
  /** `'pong'` from every worker that is up. */
  ping(): Promise<Array<ControlReply<'pong'>>>;
  /** Tasks running now. */
  active(): Promise<Array<ControlReply<ActiveTask[]>>>;
  /** Tasks received and not started yet. */
  reserved(): Promise<Array<ControlReply<ReservedTask[]>>>;
  /** Delayed tasks, as the scheduler leader sees them (other workers list none). */
  scheduled(limit?: number): Promise<Array<ControlReply<ScheduledReport>>>;
  /** Task names each worker can run, with their kind. */
  registered(): Promise<Array<ControlReply<Array<{ name: string; kind: 'io' | 'cpu' }>>>>;
  /** Pools, counters, memory, load, time-limit overrides. */
  stats(): Promise<Array<ControlReply<Record<string, unknown>>>>;
  /** Queues each worker consumes, with their delivery settings. */
  activeQueues(): Promise<Array<ControlReply<ActiveQueue[]>>>;
}


/** Remote control of an app's workers (`app.control`). */
export interface Control {
  /**
   * Ask the workers (all, or `destination`) what they are doing, over NATS request/reply; each
   * method resolves with the replies that arrived within `timeout` (default 1 s; earlier once every
   * addressed worker answered).
   * @example
   * for (const r of await app.control.inspect().active()) if (r.ok) console.log(r.worker, r.result.length);
   */
  inspect(options?: BroadcastOptions): Inspect;
  /** Send any control command (docs/protocol.md §10) and collect the replies. */
  broadcast<T = unknown>(command: ControlCommand, args?: Record<string, unknown>, options?: BroadcastOptions): Promise<Array<ControlReply<T>>>;
  /**
   * Override the time limits of task `task` on the workers (seconds; `null` = no limit of that kind;
   * `hard` left out keeps the hard limit in force). Lasts until the worker restarts; limits given
   * with a call still win.
   */
  timeLimit(task: string, limits: { soft?: number | null; hard?: number | null }, options?: BroadcastOptions): Promise<Array<ControlReply<unknown>>>;
  /** Warm shutdown of the workers (all, or `destination`). */
  shutdown(options?: BroadcastOptions): Promise<Array<ControlReply<unknown>>>;
  /** Add `n` async slots (`pool: 'io'`, the default) or CPU threads (`'cpu'`); replies carry the new size. */
  poolGrow(n?: number, options?: BroadcastOptions & { pool?: 'io' | 'cpu' }): Promise<Array<ControlReply<{ pool: string; size: number }>>>;
  /** Remove `n` async slots or CPU threads (tasks running are not interrupted). */
  poolShrink(n?: number, options?: BroadcastOptions & { pool?: 'io' | 'cpu' }): Promise<Array<ControlReply<{ pool: string; size: number }>>>;
  /** Make the workers consume `queue` too. */
  addConsumer(queue: string, options?: BroadcastOptions): Promise<Array<ControlReply<{ consuming: string[] }>>>;
  /** Make the workers stop consuming `queue` (tasks taken from it finish). */
  cancelConsumer(queue: string, options?: BroadcastOptions): Promise<Array<ControlReply<{ consuming: string[] }>>>;
  /**
   * Every current and future worker skips these task ids (state `REVOKED`) until `revokeExpires`;
   * running executions see `ctx.signal` abort, and with `terminate` a CPU task's thread is
   * terminated and an I/O task abandoned. A stored final result is kept.
   */
  revoke(ids: readonly string[], options?: { terminate?: boolean }): Promise<void>;
  /** Override a task's rate (workers with the rate-limit plugin follow it); `null` = back to the configured one. */
  rateLimit(task: string, rate: string | null): Promise<void>;
  /** Turn every worker's events on or off. */
  events(enabled: boolean): Promise<void>;
}

/** What control needs from its app. */
export interface ControlHost {
  readonly appName: string;
  transport(): Transport;
  /** Workers the registry shows online (to stop waiting once all answered). */
  onlineWorkers(): Promise<number>;
  revocations(): Promise<Revocations>;
  resultBackend(): Promise<ResultBackend>;
  /** The `<app>-control` bucket. */
  controlStore(): Promise<KeyValueStore>;
  /** Signature headers of a control request (`{}` when the app does not sign: ADR 0010). */
  signControl?(subject: string, body: Uint8Array): Record<string, string>;
}

const enc = new TextEncoder();

export function createControl(host: ControlHost): Control {
  const send = <T>(command: ControlCommand, args: Record<string, unknown>, options: BroadcastOptions = {}) =>
    broadcast<T>(host.transport(), host.appName, command, args, options, () => host.onlineWorkers(), host.signControl);
  const resize = (command: 'pool-grow' | 'pool-shrink', n: number, options: BroadcastOptions & { pool?: 'io' | 'cpu' } = {}) => {
    if (!Number.isInteger(n) || n < 1) throw new InvalidArgumentError(`control.${command === 'pool-grow' ? 'poolGrow' : 'poolShrink'}(n): n must be a positive integer, got ${String(n)}`);
    const pool = options.pool ?? 'io';
    if (pool !== 'io' && pool !== 'cpu') throw new InvalidArgumentError(`control options.pool must be "io" or "cpu", got ${JSON.stringify(pool)}`);
    return send<{ pool: string; size: number }>(command, { n, pool }, options);
  };
  return {
    inspect(options = {}) {
      return {
        ping: () => send('ping', {}, options),
        active: () => send('active', {}, options),
        reserved: () => send('reserved', {}, options),
        scheduled: (limit = 100) => send('scheduled', { limit }, options),
        registered: () => send('registered', {}, options),
        stats: () => send('stats', {}, options),
        activeQueues: () => send('active-queues', {}, options),
      };
    },
    broadcast: (command, args = {}, options = {}) => send(command, args, options),
    timeLimit(task, limits, options) {
      validateTaskName(task, 'control.timeLimit(task)');
      for (const k of ['soft', 'hard'] as const) {
        const v = limits[k];
        if (v !== undefined && v !== null && (typeof v !== 'number' || !Number.isFinite(v) || v <= 0)) {
          throw new InvalidArgumentError(`control.timeLimit ${k} must be seconds > 0 or null, got ${JSON.stringify(v)}`);
        }
      }
      // `hard` left out keeps the hard limit in force on the node (protocol §10); null removes it.
      return send('time-limit', { task, soft: limits.soft ?? null, ...(limits.hard !== undefined ? { hard: limits.hard } : {}) }, options);
    },
    shutdown: (options) => send('shutdown', {}, options),
    poolGrow: (n = 1, options) => resize('pool-grow', n, options),
    poolShrink: (n = 1, options) => resize('pool-shrink', n, options),
    addConsumer(queue, options) {
      validateToken(queue, 'control.addConsumer(queue)');
      return send('add-consumer', { queue }, options);
    },
    cancelConsumer(queue, options) {
      validateToken(queue, 'control.cancelConsumer(queue)');
      return send('cancel-consumer', { queue }, options);
    },
    async events(enabled) {
      if (typeof enabled !== 'boolean') throw new InvalidArgumentError('control.events(enabled): enabled must be a boolean');
      await (await host.controlStore()).put(EVENTS_SWITCH_KEY, enc.encode(JSON.stringify({ enabled, at: new Date().toISOString() })));
    },
    async rateLimit(task, rate) {
      validateTaskName(task, 'control.rateLimit(task)');
      const text = rate === null ? null : parseRate(rate, 'control.rateLimit(rate)').text;
      await (await host.controlStore()).put(`${RATE_LIMIT_KEY_PREFIX}${task}`, enc.encode(JSON.stringify({ rate: text, at: new Date().toISOString() })));
    },
    async revoke(ids, options = {}) {
      if (!Array.isArray(ids)) throw new InvalidArgumentError('control.revoke(ids): ids must be an array of task ids');
      ids.forEach((id, i) => validateTaskId(id, `control.revoke ids[${i}]`));
      const revocations = await host.revocations();
      await revocations.revoke(ids, options);
      // A task not started yet (or running with no state stored) shows REVOKED at once; a stored
      // final result is kept.
      const backend = await host.resultBackend();
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
