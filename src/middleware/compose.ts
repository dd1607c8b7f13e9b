import { MiddlewareError } from '../errors.ts';

/** A wrapping hook: gets the input and the rest of the chain. */
export type Wrap<I, O> = (input: I, next: (input: I) => Promise<O>) => Promise<O>;

/** A composed chain: call it with the input and the innermost step (the real publish or execution). */
export type Composed<I, O> = (input: I, last: (input: I) => Promise<O>) => Promise<O>;

/**
 * Compose named wrapping hooks once: the first given is the outermost. Each hook may call `next`
 * at most once (to transform, retry by calling it in a `try`, delay, or not at all to
 * short-circuit); a second call rejects with `MiddlewareError` naming the hook. With no hooks the
 * result calls `last` directly.
 */
export function compose<I, O>(hooks: ReadonlyArray<{ name: string; fn: Wrap<I, O> }>): Composed<I, O> {
  if (hooks.length === 0) return (input, last) => last(input);
  return (input, last) => {
    const step = (i: number, cur: I): Promise<O> => {
      const h = hooks[i];
      if (!h) return last(cur);
      let called = false;
      const next = (n: I): Promise<O> => {
        if (called) return Promise.reject(new MiddlewareError(`middleware "${h.name}" called next() more than once; call it once (or not at all to short-circuit)`));
        called = true;
        return step(i + 1, n);
      };
      try {
        return Promise.resolve(h.fn(cur, next));
      } catch (err) {
        return Promise.reject(err);
      }
    };
    return step(0, input);
  };
}
