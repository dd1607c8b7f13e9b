import type { Continuation, ExecutionMiddleware } from '../execution/executor.ts';
import type { TaskDefinition } from '../execution/task-definition.ts';
import type { EncodedTask, TaskMessage } from '../protocol/envelope.ts';
import type { AttemptLedger } from '../results/attempt-ledger.ts';
import type { ResultBackend } from '../results/result-backend.ts';
import type { Revocations } from '../results/revocations.ts';
import type { ResultRecord } from '../results/states.ts';
import type { DeadLetterStore, IncomingMessage, KeyValueStore, Transport } from '../transport/transport.ts';
import type { ResolvedSchedule } from './beat-schedule.ts';
import type { WorkerNode } from './worker-node.ts';

/** Key of the run-time events switch in `<app>-control`: `{ "enabled": boolean }`. */
export const EVENTS_SWITCH_KEY = 'events';

/** What a worker node needs from its app. */
export interface WorkerApp {
  readonly name: string;
  readonly options: {
    readonly defaultQueue: string;
    readonly trackStarted: boolean;
    readonly ackWaitMs: number;
    readonly broker: string;
    readonly maxCrashes: number;
    readonly maxPayloadBytes: number;
    /** The consumers' `max_ack_pending`: the most messages of a queue delivered and not acknowledged. */
    readonly maxAckPending: number;
  };
  transport(): Transport;
  onWarning(listener: (msg: string) => void): () => void;
  resultBackend(): Promise<ResultBackend>;
  attemptLedger(): Promise<AttemptLedger>;
  leaseStore(): Promise<KeyValueStore>;
  schedules(): ResolvedSchedule[];
  beatStore(): Promise<KeyValueStore>;
  fireSchedule(s: ResolvedSchedule, slotMs: number): Promise<void>;
  revocations(): Promise<Revocations>;
  deadLetterStore(): Promise<DeadLetterStore>;
  taskNames(): string[];
  taskKind(name: string): 'io' | 'cpu' | undefined;
  /** The app's own definition of a task (workers look here before the process-wide registry). */
  taskDefinition(name: string): TaskDefinition | undefined;
  readonly codec: { encode(value: unknown): Uint8Array };
  /** Send a terminal record to a client's reply subject (the result routed back to its caller). */
  notifyResult(replyTo: string, taskId: string, record: ResultRecord): void;
  /** What comes after a task of a workflow (chain step, callbacks, chord join). */
  workflowContinuation(task: TaskMessage, record: ResultRecord, queue: string): Continuation | null;
  /** The app's middleware. */
  readonly middleware: WorkerMiddleware;
  /** A key-value bucket of the app (`<app>-<name>`): the worker registry, the control settings. */
  keyValue(name: string): Promise<KeyValueStore>;
  /** Message signing (ADR 0010), or null when it is off. */
  readonly security?: WorkerSecurity | null;
}

/** What a worker node uses of the app's message signing (ADR 0010). */
export interface WorkerSecurity {
  /** True when the process holds a signing key (a worker needs one: it re-signs what it publishes). */
  readonly canSign: boolean;
  /** Refuse unsigned control requests. */
  readonly requireSignedControl: boolean;
  /** Refusals since start, by reason. */
  readonly rejected: Readonly<Record<string, number>>;
  /** Key ids, queues and limits in force (for the start-up log line; no key material). */
  describe(): Record<string, unknown>;
  /** Sign (and encrypt) a task the worker publishes. */
  signTask(queue: string, task: EncodedTask): EncodedTask;
  /** Check a delivered task before it is decoded. */
  authenticateTask(msg: IncomingMessage): { ok: true; body: Uint8Array } | { ok: false; reason: string; message: string };
  /** Check a control request. */
  verifyControl(subject: string, get: (name: string) => string | undefined, body: Uint8Array): { ok: true } | { ok: false; reason: string; message: string };
}

/** What the node does with the app's middleware. */
export interface WorkerMiddleware extends ExecutionMiddleware {
  start(node: WorkerNode): Promise<void>;
  stop(node: WorkerNode): Promise<void>;
  notifyWorker(signal: 'workerReady' | 'workerShutdown', node: WorkerNode): void;
}

/**
 * Follow the run-time events switch (key `events` of `<app>-control`): `set` is called with the
 * current value, then with every change; a malformed value is ignored. Resolves with a stop function.
 */
export async function followEventsSwitch(control: KeyValueStore, set: (enabled: boolean) => void): Promise<() => void> {
  const apply = (value: Uint8Array | null) => {
    try {
      const v = value && value.length ? (JSON.parse(new TextDecoder().decode(value)) as { enabled?: unknown }) : null;
      if (v && typeof v.enabled === 'boolean') set(v.enabled);
    } catch {
      /* a malformed switch is ignored */
    }
  };
  const off = control.watchKey(EVENTS_SWITCH_KEY, (e) => apply(e.operation === 'PUT' ? e.value : null));
  const current = await control.get(EVENTS_SWITCH_KEY);
  if (current && current.operation === 'PUT') apply(current.value);
  return off;
}
