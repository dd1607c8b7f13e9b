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
  // Flat arguments (the common case) need no walk, and no allocation on the publish path.
  if (!hasContainer(args, kwargs)) return;
  // The path is kept as a stack of keys and only turned into text for the error.
  const path: Array<string | number> = [];
  const fail = (): never => {
    const text = path.map((k, i) => (typeof k === 'number' ? `[${k}]` : i === 0 ? k : `.${k}`)).join('');
    throw new NestingTooDeepError(task, text, limit);
  };
  const walk = (v: object, depth: number): void => {
    if (depth > limit) fail();
    if (Array.isArray(v)) {
      for (let i = 0; i < v.length; i++) {
        const x: unknown = v[i];
        if (isContainer(x)) {
          path.push(i);
          walk(x, depth + 1);
          path.pop();
        }
      }
      return;
    }
    for (const k in v) {
      const x = (v as Record<string, unknown>)[k];
      if (isContainer(x)) {
        path.push(k);
        walk(x, depth + 1);
        path.pop();
      }
    }
  };
  path.push('args');
  for (let i = 0; i < args.length; i++) {
    const a = args[i];
    if (isContainer(a)) {
      path.push(i);
      walk(a, 1);
      path.pop();
    }
  }
  path.pop();
  if (!kwargs) return;
  path.push('kwargs');
  for (const k in kwargs) {
    const x = kwargs[k];
    if (isContainer(x)) {
      path.push(k);
      walk(x, 1);
      path.pop();
    }
  }
}

/** Whether any argument (or kwargs value) is an array or a plain object. */
function hasContainer(args: readonly unknown[], kwargs: Record<string, unknown> | undefined): boolean {
  for (let i = 0; i < args.length; i++) if (isContainer(args[i])) return true;
  if (kwargs) for (const k in kwargs) if (isContainer(kwargs[k])) return true;
  return false;
}

/** Arrays and plain objects nest; typed arrays, Dates, Maps and class instances are leaves. */
function isContainer(v: unknown): v is object {
  if (typeof v !== 'object' || v === null) return false;
  if (Array.isArray(v)) return true;
  const proto = Object.getPrototypeOf(v) as unknown;
  return proto === Object.prototype || proto === null;
}

/** Size of `headers` counted as `name: value\r\n` each (UTF-16 units): what the header limits bound. */
export function headerBytes(headers: Record<string, string>): number {
  let size = 0;
  for (const k in headers) size += k.length + (headers[k] as string).length + 4;
  return size;
}

/**
 * Check the total size of a message's headers, counted as `name: value\r\n` each (UTF-16 units).
 * @returns the size
 * @throws HeadersTooLargeError naming the task, the size and the limit.
 */
export function checkHeaderSize(task: string, headers: Record<string, string>, limit = MAX_HEADER_BYTES): number {
  const size = headerBytes(headers);
  if (size > limit) throw new HeadersTooLargeError(task, size, limit);
  return size;
}
