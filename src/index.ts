/**
 * Celeriac: a distributed task runtime for TypeScript on NATS JetStream.
 *
 * @example
 * ```ts
 * import { createApp } from 'celeriac';
 *
 * export const app = createApp({ name: 'shop', broker: process.env.CELERIAC_BROKER_URL });
 * export const add = app.task('math.add', async (ctx, a: number, b: number) => a + b);
 *
 * // producer
 * const r = await add.delay(2, 3);
 * console.log(await r.get({ timeout: '5s' })); // 5
 *
 * // worker (or: npx celeriac worker -A ./tasks.ts)
 * const worker = app.worker({ concurrency: 64 });
 * await worker.start();
 * ```
 * @module celeriac
 */
export { App, createApp, isApp } from './app/create-app.ts';
export type { AppOptions, ResolvedAppOptions } from './app/app-options.ts';
export { DEFAULT_APP_OPTIONS } from './app/app-options.ts';
export { Task } from './app/task.ts';
export type { ArgsSuffix } from './app/task.ts';
export { Chain, Chord, Group, Signature, Workflow, chain, chord, group } from './canvas/signature.ts';
export type { ChordOptions, SignatureOptions } from './canvas/signature.ts';
export type { ChainJSON, ChordJSON, ChordMembership, GroupJSON, SignatureOptionsJSON, TaskSignatureJSON, WorkflowJSON } from './protocol/workflow-json.ts';
export { GroupResult, WorkflowResult } from './results/group-result.ts';
export type { Middleware, SignalEvent, SignalName } from './app/middleware.ts';
export type { PublishInput, PublishOutcome, RunOutcomeState, TaskEvent } from './middleware/types.ts';
export type { ExecuteInput } from './execution/task-definition.ts';
export type { WorkflowProgress } from './results/group-result.ts';
export type { ApplyOptions, TaskOptions } from './app/task-options.ts';
export type { QueueOptions } from './app/app-options.ts';
export type { NatsSecurityOptions, NatsTlsOptions } from './transport/nats/nats-auth.ts';
export type { KeyInput, SecretKeyInput, SecurityOptions } from './app/security-options.ts';
export type { MessageSecurity, RejectionCounts } from './app/message-security.ts';
export type { SecurityRejectReason } from './protocol/signing.ts';
export { provisionApp } from './app/provision-app.ts';
export type { ProvisionReport } from './app/provision-app.ts';
export type { CatchUpPolicy, ResolvedSchedule, ScheduleOptions } from './actors/beat-schedule.ts';
export { DeadLetterQueue } from './app/dead-letter-queue.ts';
export type { DeadLetterInfo, ReplayOptions } from './app/dead-letter-queue.ts';
export type { DeadLetterReason } from './execution/dead-letter.ts';
export type { Backoff, ErrorMatcher, RetryOptions, RetryPolicy } from './execution/retry-policy.ts';
export { DEFAULT_RETRY_OPTIONS, resolveRetryOptions, retryDelayMs, shouldAutoretry } from './execution/retry-policy.ts';
export { WorkerNode } from './actors/worker-node.ts';
export type { WorkerState } from './actors/worker-node.ts';
export type { WorkerOptions } from './actors/worker-options.ts';
export { DEFAULT_WORKER_OPTIONS } from './actors/worker-options.ts';
export { AsyncResult } from './results/async-result.ts';
export type { GetOptions, ResultHandle, WatchOptions } from './results/async-result.ts';
export type { AnyTaskState, CustomTaskState, ResultRecord, TaskState } from './results/states.ts';
export type { ResultRef } from './results/result-ref.ts';
export { isTerminalState, TERMINAL_STATES } from './results/states.ts';
export type { AttemptToken, CtxRetryOptions, DeliveryInfo, TaskContext, TaskFn, TaskKind, TaskLogger } from './execution/task-definition.ts';
export type { Duration } from './util/duration.ts';
export { parseDuration } from './util/duration.ts';
export { parseRate } from './util/rate.ts';
export { addSpanEvent } from './telemetry/tracing.ts';
export type { CeleriacEvent, EventType, TaskEventType, WorkerEventType } from './execution/event-emitter.ts';
export type { WorkerInfo, WorkerRecord } from './actors/worker-registry.ts';
export type { ScheduledTask } from './app/app-operations.ts';
export { ATTR as SPAN_ATTRIBUTES, EVENT as SPAN_EVENTS } from './telemetry/attributes.ts';
export { METRIC as METRIC_NAMES, recordCircuitState } from './telemetry/metrics.ts';
export type { RateString } from './util/rate.ts';
export type { KeyValueStore, KvEntry, KvPutOptions } from './transport/transport.ts';
export { RATE_LIMIT_KEY_PREFIX } from './app/create-app.ts';
export type { Control, Inspect } from './app/app-control.ts';
export type { ActiveQueue, ScheduledReport } from './actors/worker-reports.ts';
export type { BroadcastOptions } from './app/remote-control.ts';
export { CONTROL_COMMANDS } from './protocol/control.ts';
export type { ControlCommand, ControlReply } from './protocol/control.ts';
export type { ActiveTask, ReservedTask } from './execution/executor.ts';
export type { QueueStats } from './transport/transport.ts';
export type { SubscribeEventsOptions } from './app/app-events.ts';
export { createStateStore } from './app/state-store.ts';
export type { StateScope, StateStore, StateStoreOptions, StateUpdate } from './app/state-store.ts';
export type { Logger, LogLevel } from './util/logger.ts';
export { createLogger } from './util/logger.ts';
export {
  CeleriacError,
  BrokerAuthError,
  isBrokerAuthError,
  BrokerPermissionError,
  isBrokerPermissionError,
  ClosedError,
  ConfigMismatchError,
  DecodeError,
  InvalidArgumentError,
  NotRegisteredError,
  PayloadTooLargeError,
  PublishError,
  QueueFullError,
  TaskError,
  TimeoutError,
  WorkerLostError,
  Retry,
  Reject,
  Ignore,
  SoftTimeLimitExceeded,
  TimeLimitExceeded,
  TaskRevokedError,
  ChordError,
  isChordError,
  Defer,
  isDefer,
  MiddlewareError,
  isMiddlewareError,
  RevisionMismatchError,
  isRevisionMismatchError,
  isRetry,
  isReject,
  isIgnore,
  isSoftTimeLimitExceeded,
  isTimeLimitExceeded,
  isTaskRevokedError,
  isClosedError,
  isConfigMismatchError,
  isDecodeError,
  isInvalidArgumentError,
  isNotRegisteredError,
  isPayloadTooLargeError,
  isPublishError,
  isQueueFullError,
  isTaskError,
  isTimeoutError,
  isWorkerLostError,
  ResultTooLargeError,
  isResultTooLargeError,
  NestingTooDeepError,
  isNestingTooDeepError,
  HeadersTooLargeError,
  isHeadersTooLargeError,
} from './errors.ts';
export type { RetrySignalOptions, SerializedError } from './errors.ts';
// Types that appear in the signatures above (resolved options, stats, records): exported so users can name them.
export type { SerializerName } from './protocol/codec.ts';
export type { LoggerOptions } from './util/logger.ts';
export type { ExecuteInputOf } from './middleware/types.ts';
export type { ResolvedTaskOptions } from './app/task-options.ts';
export type { ResolvedWorkerOptions } from './actors/worker-options.ts';
export type { ResolvedNatsSecurityOptions } from './transport/nats/nats-auth.ts';
export type { DeadLetter, QueueSettings } from './transport/transport.ts';
export type { AttemptRef } from './results/states.ts';
export type { ExecutorStats } from './execution/executor-stats.ts';
export type { SchedulerStats } from './actors/scheduler.ts';
