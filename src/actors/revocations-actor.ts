import type { Executor } from '../execution/executor.ts';
import type { Revocations } from '../results/revocations.ts';
import type { Transport } from '../transport/transport.ts';
import type { Logger } from '../util/logger.ts';
import type { ActorBehavior } from './kernel/index.ts';

/** Settings of the revocations actor. */
export interface RevocationsActorSettings {
  revocations: Revocations;
  executor: Pick<Executor, 'revoke'>;
  transport: Pick<Transport, 'onStatus'>;
  logger: Logger;
}

/** How often the revoked set is re-read: revocations that reach `revokeExpires` send no event. */
const RELOAD_EVERY_MS = 300_000;

/**
 * The revocations actor: loads the app's revoked ids and follows the bucket; a revoke of a task that
 * runs here aborts it (or, with terminate, kills it). Re-reads the set after a reconnect (writes
 * made meanwhile were not seen) and every 5 minutes.
 */
export function revocationsActor(s: RevocationsActorSettings): () => ActorBehavior<never> {
  return () => {
    let off: (() => void) | undefined;
    return {
      async start() {
        const unsubscribe = await s.revocations.start((id, r) => {
          const n = s.executor.revoke(id, r.terminate);
          if (n > 0) s.logger.info('running task revoked', { id, terminate: r.terminate });
        });
        const reload = () => s.revocations.reload().catch((err) => s.logger.warn('re-reading revocations failed', { error: err }));
        const offStatus = s.transport.onStatus((st) => {
          if (st === 'connected') void reload();
        });
        const timer = setInterval(() => void reload(), RELOAD_EVERY_MS);
        timer.unref();
        off = () => {
          unsubscribe();
          offStatus();
          clearInterval(timer);
        };
      },
      receive() {},
      stop() {
        off?.();
      },
    };
  };
}
