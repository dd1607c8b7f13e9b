/**
 * Size and shape limits of a task message checked when it is published (ADR 0012, docs/protocol.md
 * "Limits"): argument nesting depth and total header size. The body size is checked against
 * `maxPayloadBytes` by `encodeTask`, user headers by `validateUserHeaders`, names by `names.ts`.
 * @module
 */
import { HeadersTooLargeError, NestingTooDeepError } from '../errors.ts';

/** Deepest nesting of arrays and objects in a task's arguments (`args[0]` is level 1). */
export const MAX_ARG_DEPTH = 32;

/**
 * Largest total size of a task message's headers (`name: value\r\n` each): protocol headers, user
 * headers (at most 4 KiB of them) and trace context. The task stream allows this much above
 * `maxPayloadBytes` per message.
 */
export const MAX_HEADER_BYTES = 8 * 1024;

/**
 * Check that `args` and `kwargs` nest at most {@link MAX_ARG_DEPTH} arrays/objects deep (a cycle
 * counts as too deep). Typed arrays, Dates and other non-plain objects are leaves.
 * @throws NestingTooDeepError naming the task and the path where the limit is passed.
 */
export function checkArgNesting(task: string, args: readonly unknown[], kwargs?: Record<string, unknown>, limit = MAX_ARG_DEPTH): void {
  const walk = (v: unknown, depth: number, path: () => string): void => {
    if (typeof v !== 'object' || v === null) return;
    const isArray = Array.isArray(v);
    if (!isArray) {
      const proto = Object.getPrototypeOf(v) as unknown;
      if (proto !== Object.prototype && proto !== null) return;
    }
    if (depth > limit) throw new NestingTooDeepError(task, path(), limit);
    if (isArray) {
      const a = v as unknown[];
      for (let i = 0; i < a.length; i++) walk(a[i], depth + 1, () => `${path()}[${i}]`);
    } else {
      for (const k in v as Record<string, unknown>) walk((v as Record<string, unknown>)[k], depth + 1, () => `${path()}.${k}`);
    }
  };
  for (let i = 0; i < args.length; i++) walk(args[i], 1, () => `args[${i}]`);
  if (kwargs) for (const k in kwargs) walk(kwargs[k], 1, () => `kwargs.${k}`);
}

/**
 * Check the total size of a message's headers.
 * @throws HeadersTooLargeError naming the task, the size and the limit.
 */
export function checkHeaderSize(task: string, headers: Record<string, string>, limit = MAX_HEADER_BYTES): void {
  let size = 0;
  for (const k in headers) size += k.length + (headers[k] as string).length + 4;
  if (size > limit) throw new HeadersTooLargeError(task, size, limit);
}
