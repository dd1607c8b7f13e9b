import type { Span } from '@opentelemetry/api';
import type { EncodedTask, Embed } from '../protocol/envelope.ts';
import type { ApplyOptions } from './task-options.ts';

/** @internal what a workflow adds to a publish (message fields a plain `applyAsync` does not set). */
export interface PublishExtra {
  embed?: Partial<Embed>;
  rootId?: string;
  parentId?: string | null;
  group?: string | null;
  /**
   * Inherited `reply_to` (a worker continuing a workflow passes on the client's); `null` = none.
   * Left undefined, the app routes results to itself as for any publish.
   */
  replyTo?: string | null;
  /** Queue for built-in tasks (`celeriac.*`) with no queue of their own: the queue of the task that publishes them. */
  fallbackQueue?: string;
  /** Mark the task with an idempotency key (its id): a second copy finds the result and does not run. */
  idempotent?: boolean;
}

/** @internal one task of a batch publish. */
export interface PublishRequest {
  name: string;
  args: readonly unknown[];
  options?: ApplyOptions;
  extra?: PublishExtra;
}

/** @internal an encoded task with its destination. */
export interface PreparedTask {
  name: string;
  encoded: EncodedTask;
  queue: string;
  eta: number | null;
  ignoreResult: boolean;
  /** The PRODUCER span, ended when the broker stored the message. */
  span: Span;
}
