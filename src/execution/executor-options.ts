/**
 * What an executor is built with: its options, what it asks the app's middleware for per task name,
 * and the continuation a finished step of a workflow leaves.
 * @module
 */
import type { Composed } from '../middleware/compose.ts';
import type { ExecutionSignals } from '../middleware/types.ts';
import type { EncodedTask, TaskMessage } from '../protocol/envelope.ts';
import type { AttemptLedger } from '../results/attempt-ledger.ts';
import type { ResultBackend, ResultWriteHandle, WriteOutcome } from '../results/result-backend.ts';
import type { Revocations } from '../results/revocations.ts';
import type { ResultRecord } from '../results/states.ts';
import type { WorkerMetrics } from '../telemetry/metrics.ts';
import type { DeadLetterStore, IncomingMessage, QueueSettings } from '../transport/transport.ts';
import type { Logger } from '../util/logger.ts';
import type { CpuPool } from './cpu-pool.ts';
import type { EventEmitter } from './event-emitter.ts';
import type { ExecuteInput, TaskDefinition } from './task-definition.ts';

/** Options of {@link Executor}. */
export interface ExecutorOptions {
  appName: string;
  /**
   * The worker app's own definition of a task, looked up before the process-wide registry by
   * `appName` (which holds the last registration of a name in the process, and the built-ins).
   */
  findDefinition?: (name: string) => TaskDefinition | undefined;
  hostname: string;
  backend: ResultBackend;
  logger: Logger;
  /** CPU pool for `kind: 'cpu'` tasks; without one they run on the event loop. */
  cpuPool?: Pick<CpuPool, 'run'>;
  /**
   * Threads where a task that reached `maxCrashes` runs alone one more time (io or cpu): if it kills
   * the thread it is dead-lettered; if it succeeds it was a bystander. Without it, reaching
   * `maxCrashes` dead-letters at once.
   */
  quarantine?: Pick<CpuPool, 'run'>;
  trackStarted: boolean;
  /** Broker AckWait; tasks running longer than a third of it get `working()` heartbeats. */
  ackWaitMs: number;
  /** Delivery settings per queue (max deliveries). */
  queueSettings: (queue: string) => QueueSettings;
  /** A task whose execution killed a worker this many times goes to the dead-letter stream. */
  maxCrashes: number;
  /** Dead-letter stream. */
  deadLetters: DeadLetterStore;
  /** Crash attribution. */
  ledger: AttemptLedger;
  /** Revoked task ids. */
  revocations?: Pick<Revocations, 'get'>;
  /** Publish a message (retries, eta hand-over); resolves once the broker stored it. */
  republish: (queue: string, task: EncodedTask) => Promise<void>;
  /**
   * Store a task that is not due yet in the delayed stream (the scheduler moves it to its queue
   * when due). Without it, not-yet-due tasks are handed back with a nak delay.
   */
  publishDelayed?: (queue: string, task: EncodedTask) => Promise<void>;
  /** Worker-wide default hard / soft time limits (ms). */
  timeLimitMs?: number | null;
  softTimeLimitMs?: number | null;
  /** Base delay for handing back a task no worker here knows (doubles per delivery, up to 5 min). @defaultValue 5_000 */
  unknownTaskDelayMs?: number;
  /** Called when a message is settled (its slot is free again). */
  onSettled?: () => void;
  /** Log a line per succeeded task at debug level (off by default: it costs a logger per task). */
  debug?: boolean;
  /** Send a stored terminal result to the task's `reply_to` subject (before the ack). */
  notifyResult?: (replyTo: string, taskId: string, record: ResultRecord) => void;
  /**
   * What comes after a task of a workflow reached a final state (chain step, callbacks, chord join):
   * planned before the final record is written (its ids go into `children`), run before the ack.
   */
  continuation?: (task: TaskMessage, record: ResultRecord, queue: string) => Continuation | null;
  /** The app's middleware: the execute chain around a task's body, and observers of its outcome. */
  middleware?: ExecutionMiddleware;
  /** Task events (`task-received`, `task-started`, ...) on `<app>.events.>`. */
  events?: EventEmitter;
  /** Metrics of executions (when a meter provider is registered). */
  metrics?: WorkerMetrics | null;
  /**
   * Check a message before it is decoded (signature, age, nonce, decryption: ADR 0010); a refused
   * one is dead-lettered on its first delivery with no result written. @defaultValue none (signing off)
   */
  authenticate?: (msg: IncomingMessage) => { ok: true; body: Uint8Array } | { ok: false; reason: string; message: string };
  /**
   * Largest task body accepted (the app's `maxPayloadBytes`): a larger message is dead-lettered as
   * undecodable before it is verified or decoded. @defaultValue 1 MiB
   */
  maxPayloadBytes?: number;
  /** Route result writes (e.g. through the node's result-writer actor). @defaultValue write directly */
  writeResult?: (handle: ResultWriteHandle, record: ResultRecord) => Promise<WriteOutcome>;
}

/** What the executor asks the app's middleware for, per task name (null: none, the fast path). */
export interface ExecutionMiddleware {
  executeChain(task: string): Composed<ExecuteInput, unknown> | null;
  signals(task: string): ExecutionSignals | null;
}

/** The work a finished task of a workflow leaves: publish its children, record a chord join. */
export interface Continuation {
  /** Ids of the tasks it publishes. */
  children: string[];
  /** Publish and join; idempotent (a redelivery runs it again and the broker drops the copies). */
  run(): Promise<void>;
}
