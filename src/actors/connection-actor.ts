/**
 * The `connection` actor of a worker node: connects the app's transport and logs the app's
 * warnings and the broker connection's losses and recoveries while it runs.
 * @module
 */
import type { Transport } from '../transport/transport.ts';
import type { Logger } from '../util/logger.ts';
import type { ActorBehavior } from './kernel/index.ts';
import type { WorkerApp } from './worker-app.ts';

/** The node's broker connection, as an actor: connected at start, its listeners removed at stop. */
export function connectionActor(app: Pick<WorkerApp, 'onWarning'>, transport: Transport, log: Logger): () => ActorBehavior<never> {
  return () => {
    let off: (() => void) | undefined;
    return {
      async start() {
        const offWarn = app.onWarning((m) => log.warn(m));
        off = offWarn;
        await transport.connect();
        const offStatus = transport.onStatus((s, detail) => {
          if (s === 'connected') log.info('broker connection restored', { server: detail });
          else if (s === 'disconnected') log.warn('broker connection lost; reconnecting', { server: detail });
        });
        off = () => {
          offWarn();
          offStatus();
        };
      },
      receive() {},
      stop() {
        off?.();
      },
    };
  };
}
