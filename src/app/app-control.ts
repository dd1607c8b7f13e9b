import { EVENTS_SWITCH_KEY } from '../actors/worker-node.ts';
import { InvalidArgumentError } from '../errors.ts';
import { validateTaskId, validateTaskName } from '../protocol/names.ts';
import type { ResultBackend } from '../results/result-backend.ts';
import type { Revocations } from '../results/revocations.ts';
import { newRecord } from '../results/states.ts';
import type { KeyValueStore } from '../transport/transport.ts';
import { parseRate } from '../util/rate.ts';

/** Key prefix of run-time rate limits in the `<app>-control` bucket (`celeriac control rate-limit`). */
export const RATE_LIMIT_KEY_PREFIX = 'rate-limit.';

/** Remote control of an app's workers (`app.control`). */
export interface Control {
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
  revocations(): Promise<Revocations>;
  resultBackend(): Promise<ResultBackend>;
  /** The `<app>-control` bucket. */
  controlStore(): Promise<KeyValueStore>;
}

const enc = new TextEncoder();

export function createControl(host: ControlHost): Control {
  return {
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
