/**
 * Every span attribute and event name Celeriac writes, in one table. Messaging attributes follow the
 * OpenTelemetry semantic conventions for messaging; the rest are `celeriac.*`.
 * @module
 */
/** Span attribute names (exported as `SPAN_ATTRIBUTES`): the key is the name used in code, the value the attribute written on spans. */
export const ATTR = {
  /** Always `nats` (also for memory://, which has NATS semantics). */
  messagingSystem: 'messaging.system',
  /** The queue (`default`, `web`, a priority band such as `web--hi`). */
  destination: 'messaging.destination.name',
  /** The task id (it is also the message's `Nats-Msg-Id`). */
  messageId: 'messaging.message.id',
  /** `send` (publish) or `process` (execution). */
  operationType: 'messaging.operation.type',
  /** `publish` or `process`. */
  operationName: 'messaging.operation.name',
  /** Delivery count of the execution attempt (1 = first). */
  deliveryCount: 'messaging.nats.message.delivery_count',
  taskName: 'celeriac.task.name',
  taskId: 'celeriac.task.id',
  taskRetries: 'celeriac.task.retries',
  /** Final state of an execution attempt: SUCCESS, FAILURE, RETRY, REVOKED, IGNORED, DEFERRED. */
  taskState: 'celeriac.task.state',
  worker: 'celeriac.worker',
  /** Root task id of a workflow. */
  rootId: 'celeriac.task.root_id',
} as const;

/** Span event names. */
export const EVENT = {
  retry: 'celeriac.retry',
  softTimeLimit: 'celeriac.soft_time_limit',
  hardTimeLimit: 'celeriac.time_limit',
  revoked: 'celeriac.revoked',
  deferred: 'celeriac.deferred',
  circuit: 'celeriac.circuit',
} as const;

/** Header that keeps the original publish's trace context on retries and delayed copies (a span link). */
export const LINK_HEADER = 'celeriac-link';
