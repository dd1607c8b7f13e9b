/**
 * The executor of a worker node, wired to the node: results go through its result-writer actor,
 * what it re-publishes is re-signed when the app signs its messages, `kind: 'cpu'` tasks run on its
 * CPU threads, and every settled message frees an async slot.
 * @module
 */
import type { EventEmitter } from '../execution/event-emitter.ts';
import { Executor } from '../execution/executor.ts';
import type { SlotPool } from '../execution/slot-pool.ts';
import type { WriteOutcome } from '../results/result-backend.ts';
import type { WorkerMetrics } from '../telemetry/metrics.ts';
import type { IncomingMessage, Transport } from '../transport/transport.ts';
import type { Logger } from '../util/logger.ts';
import type { ActorRef } from './kernel/index.ts';
import type { ResultWriteMsg } from './result-writer-actor.ts';
import type { WorkerApp } from './worker-app.ts';
import type { WorkerCpuThreads } from './worker-cpu-threads.ts';
import type { ResolvedWorkerOptions } from './worker-options.ts';
import type { WorkerStores } from './worker-stores.ts';

/** What the node hands to {@link createWorkerExecutor}. */
export interface WorkerExecutorSettings {
  app: WorkerApp;
  options: ResolvedWorkerOptions;
  transport: Transport;
  stores: WorkerStores;
  /** The node's result-writer actor: every result write goes through it. */
  writer: ActorRef<ResultWriteMsg>;
  events: EventEmitter;
  metrics: WorkerMetrics | null;
  logger: Logger;
  slots: SlotPool;
  cpu: WorkerCpuThreads;
  /** True when the app has `kind: 'cpu'` tasks (they run on the CPU pool when there is a tasksModule). */
  hasCpuTasks: boolean;
}

/** Build the node's executor. */
export function createWorkerExecutor(w: WorkerExecutorSettings): Executor {
  const { app, options, transport, stores, cpu } = w;
  const security = app.security ?? null;
  const log = w.logger;
  const writeResult = (handle: ResultWriteMsg['handle'], record: ResultWriteMsg['record']) =>
    new Promise<WriteOutcome>((resolve, reject) => {
      w.writer.send({ handle, record, resolve, reject }).catch(reject);
    });
  // The executor reaches the pool through a proxy, so a restarted pool actor is picked up.
  return new Executor({
    writeResult,
    queueSettings: (q) => transport.queueSettings(q),
    maxCrashes: app.options.maxCrashes,
    maxPayloadBytes: app.options.maxPayloadBytes,
    deadLetters: stores.deadLetters,
    ledger: stores.ledger,
    revocations: stores.revocations,
    // What a worker re-publishes (retries, deferrals, eta hand-overs) is re-signed (ADR 0010).
    republish: (queue, task) => transport.publish(queue, security ? security.signTask(queue, task) : task),
    publishDelayed: (queue, task) => transport.publishDelayed(queue, security ? security.signTask(queue, task) : task),
    ...(security ? { authenticate: (m: IncomingMessage) => security.authenticateTask(m) } : {}),
    timeLimitMs: options.timeLimitMs,
    softTimeLimitMs: options.softTimeLimitMs,
    notifyResult: (replyTo, taskId, record) => app.notifyResult(replyTo, taskId, record),
    continuation: (task, record, queue) => app.workflowContinuation(task, record, queue),
    middleware: app.middleware,
    events: w.events,
    metrics: w.metrics,
    appName: app.name,
    findDefinition: (name) => app.taskDefinition(name),
    hostname: options.name,
    backend: stores.backend,
    logger: log,
    trackStarted: app.options.trackStarted,
    ackWaitMs: app.options.ackWaitMs,
    debug: log.enabled?.('debug') ?? false,
    onSettled: () => w.slots.release(1),
    cpuPool: w.hasCpuTasks && options.tasksModule ? { run: (...a) => cpu.require().run(...a) } : undefined,
    quarantine: options.tasksModule ? { run: (...a) => cpu.quarantine().then((p) => p.run(...a)) } : undefined,
  });
}
