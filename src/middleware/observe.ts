/** Where observers log (a subset of the app's logger). */
export interface ObserverLog {
  warn(msg: string, fields?: Record<string, unknown>): void;
}

/**
 * Call an observer (a middleware's signal function) with a lazily built event; an observer that
 * throws is logged and ignored: observers never change what happens to a task.
 */
export function observe<E>(fn: ((e: E) => void) | undefined, event: () => E, log: ObserverLog, signal: string): void {
  if (!fn) return;
  try {
    fn(event());
  } catch (err) {
    log.warn('a middleware observer threw; ignored', { signal, error: err });
  }
}
