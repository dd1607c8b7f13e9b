/**
 * Remote control wire format (docs/protocol.md §10): a request is a core NATS message on
 * `<app>.control` with a reply subject; every worker named by `destination` (all when absent)
 * answers on the reply subject. Pure types and validation, no I/O.
 * @module
 */
import { DecodeError, InvalidArgumentError } from '../errors.ts';
import { codecByName } from './codec.ts';

const json = codecByName('json');

/** Commands a worker answers. */
export const CONTROL_COMMANDS = [
  'ping',
  'active',
  'reserved',
  'scheduled',
  'registered',
  'stats',
  'active-queues',
  'time-limit',
  'shutdown',
  'pool-grow',
  'pool-shrink',
  'add-consumer',
  'cancel-consumer',
] as const;

/** A remote-control command name. */
export type ControlCommand = (typeof CONTROL_COMMANDS)[number];

/** Largest request body a worker reads; larger ones are answered with `E_BAD_REQUEST`. */
export const MAX_CONTROL_REQUEST_BYTES = 64 * 1024;

/** Subject the workers of `app` listen on for control requests. */
export function controlSubject(app: string): string {
  return `${app}.control`;
}

/** A control request (JSON body). */
export interface ControlRequest {
  command: ControlCommand;
  /** Command arguments (see each command); `{}` when it takes none. */
  arguments: Record<string, unknown>;
  /** Worker names that should answer; absent = every worker. */
  destination?: string[];
}

/** One worker's answer (JSON body on the reply subject). */
export type ControlReply<T = unknown> =
  | { worker: string; ok: true; result: T }
  | { worker: string; ok: false; error: { code: string; message: string } };

/**
 * Parse a request body (untrusted bytes: size-checked, then decoded by the JSON codec, which bounds
 * nesting and renames `__proto__` keys).
 * @throws DecodeError naming what is wrong, and nothing else whatever the bytes (test/fuzz).
 */
export function decodeControlRequest(body: Uint8Array): ControlRequest {
  if (body.length > MAX_CONTROL_REQUEST_BYTES) throw new DecodeError(`control request of ${body.length} bytes exceeds ${MAX_CONTROL_REQUEST_BYTES}`);
  const v = json.decode(body);
  if (typeof v !== 'object' || v === null || Array.isArray(v)) throw new DecodeError('control request must be a JSON object');
  const o = v as Record<string, unknown>;
  if (typeof o.command !== 'string') throw new DecodeError('control request needs a "command" string');
  const args = o.arguments ?? {};
  if (typeof args !== 'object' || args === null || Array.isArray(args)) throw new DecodeError('control request "arguments" must be an object');
  const dest = o.destination;
  if (dest !== undefined && (!Array.isArray(dest) || !dest.every((d) => typeof d === 'string'))) {
    throw new DecodeError('control request "destination" must be an array of worker names');
  }
  return { command: o.command as ControlCommand, arguments: args as Record<string, unknown>, ...(dest ? { destination: dest as string[] } : {}) };
}

/** Parse a reply body; null when it is not a reply (or does not decode). Never throws. */
export function decodeControlReply(body: Uint8Array): ControlReply | null {
  let v: unknown;
  try {
    v = json.decode(body);
  } catch {
    return null;
  }
  if (typeof v !== 'object' || v === null) return null;
  const r = v as Record<string, unknown>;
  if (typeof r.worker !== 'string' || typeof r.ok !== 'boolean') return null;
  if (r.ok) return { worker: r.worker, ok: true, result: r.result };
  const e = typeof r.error === 'object' && r.error !== null ? (r.error as { code?: unknown; message?: unknown }) : undefined;
  return { worker: r.worker, ok: false, error: { code: text(e?.code, 'E_UNKNOWN'), message: text(e?.message, '') } };
}

/** A string field of a reply; anything else (an object whose `toString` throws, say) is shown as JSON. */
function text(v: unknown, fallback: string): string {
  if (v === undefined || v === null) return fallback;
  return typeof v === 'string' ? v : JSON.stringify(v);
}

/** A positive integer argument. @throws InvalidArgumentError */
export function intArg(args: Record<string, unknown>, name: string, fallback?: number): number {
  const v = args[name] ?? fallback;
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 1) throw new InvalidArgumentError(`argument "${name}" must be a positive integer, got ${JSON.stringify(v)}`);
  return v;
}

/** A string argument. @throws InvalidArgumentError */
export function stringArg(args: Record<string, unknown>, name: string): string {
  const v = args[name];
  if (typeof v !== 'string' || v === '') throw new InvalidArgumentError(`argument "${name}" must be a non-empty string`);
  return v;
}
