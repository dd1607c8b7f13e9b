import { InvalidArgumentError } from '../errors.ts';
import { type ControlCommand, type ControlReply, controlSubject, decodeControlReply } from '../protocol/control.ts';
import type { Transport } from '../transport/transport.ts';
import { type Duration, parseDuration } from '../util/duration.ts';

/** Options of a remote-control call. */
export interface BroadcastOptions {
  /** Only these workers answer (and act). @defaultValue every worker */
  destination?: readonly string[];
  /**
   * How long to wait for replies. The call returns earlier once every addressed worker answered
   * (the `destination`, or the workers the registry shows online). @defaultValue `'1s'`
   */
  timeout?: Duration;
}

/** Most replies one call collects (a bound, not a limit anyone should reach). */
const MAX_REPLIES = 10_000;
/** After the expected number of replies arrived, stragglers (a worker the registry missed) get this long. */
const STRAGGLER_MS = 100;

/**
 * Scatter-gather over core NATS request/reply: publish one request on `<app>.control` with a fresh
 * inbox as reply subject, collect the replies until the timeout, or until `expected` workers
 * answered (plus a short grace for stragglers). `sign` adds signature headers (ADR 0010).
 */
export async function broadcast<T = unknown>(
  transport: Transport,
  app: string,
  command: ControlCommand,
  args: Record<string, unknown>,
  options: BroadcastOptions,
  expected: () => Promise<number>,
  sign?: (subject: string, body: Uint8Array) => Record<string, string>,
): Promise<Array<ControlReply<T>>> {
  const timeoutMs = parseDuration(options.timeout ?? '1s', 'control options.timeout');
  const destination = options.destination;
  if (destination !== undefined && (!Array.isArray(destination) || destination.some((d) => typeof d !== 'string' || d === ''))) {
    throw new InvalidArgumentError('control options.destination must be an array of worker names');
  }
  await transport.connect();
  const want = destination ? new Set(destination).size : await expected().catch(() => Number.POSITIVE_INFINITY);
  const replies: Array<ControlReply<T>> = [];
  const seen = new Set<string>();
  const inbox = transport.inbox();
  let finish!: () => void;
  const done = new Promise<void>((r) => (finish = r));
  let grace: NodeJS.Timeout | undefined;
  const off = transport.listen(inbox, (_h, body) => {
    const r = decodeControlReply(body) as ControlReply<T> | null;
    if (!r || seen.has(r.worker) || replies.length >= MAX_REPLIES) return;
    seen.add(r.worker);
    replies.push(r);
    if (replies.length >= want && !grace) grace = setTimeout(finish, STRAGGLER_MS);
  });
  const timer = setTimeout(finish, timeoutMs);
  try {
    const body = new TextEncoder().encode(JSON.stringify({ command, arguments: args, ...(destination ? { destination: [...destination] } : {}) }));
    const subject = controlSubject(app);
    transport.notify(subject, sign ? sign(subject, body) : {}, body, inbox);
    await done;
  } finally {
    clearTimeout(timer);
    clearTimeout(grace);
    off();
  }
  return replies.sort((a, b) => a.worker.localeCompare(b.worker));
}
