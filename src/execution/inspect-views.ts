/**
 * What `celeriac inspect active` and `inspect reserved` show of a task, and the arguments preview
 * they (and the `task-received` event) carry.
 * @module
 */

/** A running task, as `celeriac inspect active` shows it. */
export interface ActiveTask {
  id: string;
  name: string;
  queue: string;
  /** Broker delivery count of the message (1 = first delivery). */
  delivery: number;
  retries: number;
  runningMs: number;
  /** The arguments as JSON, cut at 200 characters. */
  args: string;
}

/** A task received and not started, as `celeriac inspect reserved` shows it. */
export interface ReservedTask {
  id: string;
  name: string;
  queue: string;
  delivery: number;
  waitingMs: number;
  args: string;
}

function isPlainScalar(v: unknown): boolean {
  const t = typeof v;
  return v === null || t === 'string' || t === 'boolean' || (t === 'number' && Number.isFinite(v));
}

/** JSON of a task's arguments, cut to 200 characters (for inspect replies). */
export function argsPreview(args: readonly unknown[]): string {
  let text: string;
  try {
    // Arguments that are all strings, numbers, booleans or null (most tasks) need no replacer,
    // which JSON.stringify would call for every value: this runs for every task while events are on.
    text = args.every(isPlainScalar)
      ? JSON.stringify(args)
      : (JSON.stringify(args, (_k, v: unknown) => (typeof v === 'bigint' ? v.toString() : v instanceof Uint8Array ? `<${v.length} bytes>` : v)) ?? '[]');
  } catch {
    text = '[unserialisable]';
  }
  return text.length > 200 ? `${text.slice(0, 199)}…` : text;
}
