/**
 * A shallow copy of a record's own enumerable string-keyed properties, as `{ ...src }` makes it.
 *
 * Not written as a spread: on Node 20, V8 copies an object that was itself made by a spread and
 * then given a property (a header record once a `traceparent` was injected into it) through a slow
 * path, ~3.7 µs per copy against ~0.16 µs for this loop. Header records are copied per publish.
 */
export function copyRecord<T>(src: Readonly<Record<string, T>>): Record<string, T> {
  const out: Record<string, T> = {};
  for (const k in src) {
    if (!Object.hasOwn(src, k)) continue;
    // An own "__proto__" key is a property like any other (a plain assignment would set the prototype).
    if (k === '__proto__') Object.defineProperty(out, k, { value: src[k], enumerable: true, writable: true, configurable: true });
    else out[k] = src[k] as T;
  }
  return out;
}
