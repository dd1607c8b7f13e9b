import { InvalidArgumentError, isInvalidArgumentError } from '../errors.ts';
import {
  CONTROL_COMMANDS,
  type ControlCommand,
  type ControlReply,
  type ControlRequest,
  controlSubject,
  decodeControlRequest,
  intArg,
  stringArg,
} from '../protocol/control.ts';
import type { Transport } from '../transport/transport.ts';
import type { Logger } from '../util/logger.ts';
import type { ActorBehavior, ActorContext } from './kernel/index.ts';

/** What the control commands act on: the worker node. */
export interface ControlTarget {
  readonly name: string;
  activeTasks(): unknown[];
  reservedTasks(): unknown[];
  scheduled(limit: number): Promise<unknown>;
  registered(): unknown[];
  statsReport(): Record<string, unknown>;
  activeQueues(): unknown[];
  /** `null` removes a limit; `hardMs` `undefined` keeps the task's own hard limit. */
  setTimeLimit(task: string, limits: { softMs: number | null; hardMs?: number | null }): void;
  /** Begin a warm shutdown (after the reply went out). */
  requestShutdown(): void;
  /** Grow (`delta` > 0) or shrink a pool; resolves with its new size. */
  resizePool(pool: 'io' | 'cpu', delta: number): Promise<number>;
  /** Start consuming `queue`; resolves with the queues consumed now. */
  addConsumer(queue: string): Promise<string[]>;
  /** Stop consuming `queue` (tasks taken from it finish); resolves with the queues consumed now. */
  cancelConsumer(queue: string): Promise<string[]>;
}

/** Commands that only read: answered at once, not queued behind changes. */
const READ_ONLY: ReadonlySet<ControlCommand> = new Set(['ping', 'active', 'reserved', 'scheduled', 'registered', 'stats', 'active-queues']);
/** Read-only requests answered at once per node. */
const MAX_READS = 16;

/** Most tasks one `active`/`reserved` reply lists unless `limit` says otherwise (a reply must fit in a NATS message). */
const MAX_LISTED = 1000;

/** Run one command against the node. @throws InvalidArgumentError for bad arguments. */
export async function runControlCommand(target: ControlTarget, command: ControlCommand, args: Record<string, unknown>): Promise<unknown> {
  switch (command) {
    case 'ping':
      return 'pong';
    case 'active':
      return target.activeTasks().slice(0, args.limit === undefined ? MAX_LISTED : intArg(args, 'limit'));
    case 'reserved':
      return target.reservedTasks().slice(0, args.limit === undefined ? MAX_LISTED : intArg(args, 'limit'));
    case 'scheduled':
      return target.scheduled(args.limit === undefined ? 100 : intArg(args, 'limit'));
    case 'registered':
      return target.registered();
    case 'stats':
      return target.statsReport();
    case 'active-queues':
      return target.activeQueues();
    case 'time-limit': {
      const task = stringArg(args, 'task');
      const softMs = secondsArg(args, 'soft');
      // `hard` absent keeps the hard limit in force (an earlier override's, else the task's own); null removes it.
      const hardMs = args.hard === undefined ? overriddenHardMs(target, task) : secondsArg(args, 'hard');
      if (softMs !== null && hardMs !== null && hardMs !== undefined && softMs >= hardMs) {
        throw new InvalidArgumentError(`argument "soft" must be below "hard" (${hardMs / 1000} s)`);
      }
      target.setTimeLimit(task, { softMs, hardMs });
      return { task, softMs, hardMs };
    }
    case 'shutdown':
      target.requestShutdown();
      return 'shutting down';
    case 'pool-grow':
    case 'pool-shrink': {
      const pool = args.pool ?? 'io';
      if (pool !== 'io' && pool !== 'cpu') throw new InvalidArgumentError(`argument "pool" must be "io" or "cpu", got ${JSON.stringify(pool)}`);
      const n = intArg(args, 'n', 1);
      return { pool, size: await target.resizePool(pool, command === 'pool-grow' ? n : -n) };
    }
    case 'add-consumer':
      return { consuming: await target.addConsumer(stringArg(args, 'queue')) };
    case 'cancel-consumer':
      return { consuming: await target.cancelConsumer(stringArg(args, 'queue')) };
  }
}

/**
 * The hard limit an earlier `time-limit` set for `task` on this node (null: removed), or undefined
 * when none did. Read from the `timeLimits` of the node's stats report (docs/protocol.md §10).
 */
function overriddenHardMs(target: ControlTarget, task: string): number | null | undefined {
  const limits = target.statsReport().timeLimits;
  if (typeof limits !== 'object' || limits === null || !Object.hasOwn(limits, task)) return undefined;
  const hardMs = (limits as Record<string, { hardMs?: unknown } | undefined>)[task]?.hardMs;
  return typeof hardMs === 'number' || hardMs === null ? hardMs : undefined;
}

/** Seconds (a number > 0) or null (no limit) → ms. */
function secondsArg(args: Record<string, unknown>, name: string): number | null {
  const v = args[name];
  if (v === null || v === undefined) return null;
  if (typeof v !== 'number' || !Number.isFinite(v) || v <= 0) throw new InvalidArgumentError(`argument "${name}" must be seconds > 0 or null, got ${JSON.stringify(v)}`);
  return Math.round(v * 1000);
}

interface Pending {
  request: ControlRequest;
  replyTo: string;
}

/** Settings of the control responder. */
export interface ControlResponderSettings {
  app: string;
  transport: Transport;
  target: ControlTarget;
  logger: Logger;
  /**
   * Check a request's signature, age and nonce before it is parsed (ADR 0010); a refused one is
   * answered `E_UNAUTHORIZED` and not run. @defaultValue none (requests are not checked)
   */
  verify?: (subject: string, get: (name: string) => string | undefined, body: Uint8Array) => { ok: true } | { ok: false; reason: string; message: string };
}

/**
 * The node's control responder, as an actor: it listens on `<app>.control` and answers each request
 * addressed to it (all, or `destination` naming it) on the request's reply subject. Questions
 * (`ping`, `active`, `stats`, ...) are answered at once, at most 16 at a time; changes run one at a
 * time through the mailbox. Beyond either bound the answer is `E_BUSY`, not an unbounded queue.
 */
export function controlResponderActor(s: ControlResponderSettings): () => ActorBehavior<Pending> {
  const enc = new TextEncoder();
  const reply = (replyTo: string, r: ControlReply) => s.transport.notify(replyTo, {}, enc.encode(JSON.stringify(r)));
  const fail = (replyTo: string, code: string, message: string) => reply(replyTo, { worker: s.target.name, ok: false, error: { code, message } });
  const answer = async ({ request, replyTo }: Pending, change: boolean): Promise<void> => {
    try {
      const result = await runControlCommand(s.target, request.command, request.arguments);
      reply(replyTo, { worker: s.target.name, ok: true, result: result ?? null });
      if (change) s.logger.info('control command', { command: request.command });
    } catch (err) {
      const code = isInvalidArgumentError(err) ? 'E_INVALID_ARGUMENT' : ((err as { code?: string }).code ?? 'E_CONTROL_FAILED');
      fail(replyTo, code, (err as Error).message);
    }
  };
  return () => {
    let off: (() => void) | undefined;
    let reading = 0;
    return {
      start(ctx: ActorContext<Pending>) {
        const subject = controlSubject(s.app);
        off = s.transport.listen(subject, (h, body, replyTo) => {
          if (!replyTo) return; // nobody to answer
          if (s.verify) {
            const v = s.verify(subject, h, body);
            if (!v.ok) {
              s.logger.warn('control request refused by the signature checks', { reason: v.reason, error: v.message });
              fail(replyTo, 'E_UNAUTHORIZED', `control request refused (${v.reason}): ${v.message}`);
              return;
            }
          }
          let request: ControlRequest;
          try {
            request = decodeControlRequest(body);
          } catch (err) {
            fail(replyTo, 'E_BAD_REQUEST', (err as Error).message);
            return;
          }
          if (request.destination && !request.destination.includes(s.target.name)) return;
          if (!(CONTROL_COMMANDS as readonly string[]).includes(request.command)) {
            fail(replyTo, 'E_UNKNOWN_COMMAND', `unknown control command "${request.command}"; this worker knows ${CONTROL_COMMANDS.join(', ')}`);
            return;
          }
          if (READ_ONLY.has(request.command)) {
            // Questions are answered at once (a bounded number at a time), not behind a slow change
            // such as a CPU pool-grow warming its threads.
            if (reading >= MAX_READS) {
              fail(replyTo, 'E_BUSY', 'the worker has too many control requests in progress; try again');
              return;
            }
            reading++;
            void answer({ request, replyTo }, false).finally(() => reading--);
          } else if (!ctx.self.tryTell({ request, replyTo })) fail(replyTo, 'E_BUSY', 'the worker has too many control requests queued; try again');
        });
      },
      // Changes run one at a time, in order.
      receive: (p) => answer(p, true),
      stop() {
        off?.();
      },
    };
  };
}
