/**
 * The warnings of an app (from its broker, its signed buckets and its middleware), passed to the
 * listeners of `app.onWarning()`; with no listener, each one is a process warning.
 * @module
 */

/** Fan-out of an app's warnings, with process warnings (`CELERIAC_TRANSPORT`) as the fallback. */
export class WarningChannel {
  readonly #listeners = new Set<(msg: string) => void>();

  /** Pass `msg` to every listener, or emit it as a process warning when there is none. */
  readonly warn = (msg: string): void => {
    if (this.#listeners.size === 0) process.emitWarning(msg, { code: 'CELERIAC_TRANSPORT' });
    for (const l of this.#listeners) l(msg);
  };

  /** Add a listener; returns a function that removes it. */
  on(listener: (msg: string) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }
}
