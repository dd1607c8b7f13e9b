/**
 * The operator's side of an app: remote control of its workers, its dead-letter queue, the
 * worker registry and the delayed tasks waiting for their eta (what `celeriac inspect`, `control`
 * and `dead-letters` use), each built on first use.
 * @module
 */
import type { WorkerInfo } from '../actors/worker-registry.ts';
import { H } from '../protocol/headers.ts';
import type { AttemptLedger } from '../results/attempt-ledger.ts';
import type { ResultBackend } from '../results/result-backend.ts';
import type { Revocations } from '../results/revocations.ts';
import type { DeadLetterStore, KeyValueStore, Transport } from '../transport/transport.ts';
import { type Control, createControl } from './app-control.ts';
import { listWorkers } from './app-events.ts';
import { DeadLetterQueue } from './dead-letter-queue.ts';
import type { MessageSecurity } from './message-security.ts';

/** What the operations use of their app (the app itself). */
export interface AppOperationsHost {
  readonly name: string;
  /** Signing of the app's messages, or null (ADR 0010); read at each use. */
  readonly security: MessageSecurity | null;
  transport(): Transport;
  resultBackend(): Promise<ResultBackend>;
  revocations(): Promise<Revocations>;
  attemptLedger(): Promise<AttemptLedger>;
  deadLetterStore(): Promise<DeadLetterStore>;
  /** The bucket `<app>-<name>`. */
  keyValue(name: string): Promise<KeyValueStore>;
}

/** A delayed task as `app.scheduled()` lists it. */
export interface ScheduledTask {
  id: string;
  /** Task name (null when the stored message has none). */
  task: string | null;
  queue: string;
  /** When it is due, ISO 8601. */
  eta: string;
  /**
   * The task was revoked: it stays in the delayed stream until its eta, then every worker skips it
   * (its state is `REVOKED` already).
   */
  revoked: boolean;
}

/** Remote control, dead letters and listings of an app (`app.control`, `app.deadLetters`, `app.workers()`, `app.scheduled()`). */
export class AppOperations {
  readonly #h: AppOperationsHost;

  constructor(host: AppOperationsHost) {
    this.#h = host;
  }

  #control: Control | undefined;
  /** Remote control of the workers (created on first use). */
  get control(): Control {
    const h = this.#h;
    this.#control ??= createControl({
      appName: h.name,
      transport: () => h.transport(),
      onlineWorkers: async () => (await this.workers()).filter((w) => w.online).length,
      revocations: () => h.revocations(),
      resultBackend: () => h.resultBackend(),
      controlStore: () => h.keyValue('control'),
      signControl: (subject, body) => h.security?.signControl(subject, body) ?? {},
    });
    return this.#control;
  }

  #deadLetters: DeadLetterQueue | undefined;
  /** The dead-letter stream (created on first use). */
  get deadLetters(): DeadLetterQueue {
    const h = this.#h;
    this.#deadLetters ??= new DeadLetterQueue({
      transport: () => h.transport(),
      store: () => h.deadLetterStore(),
      backend: () => h.resultBackend(),
      ledger: () => h.attemptLedger(),
      sign: (queue, task) => (h.security ? h.security.signTask(queue, task) : task),
      decrypt: (headers, body) => (h.security ? h.security.decryptStored(headers, body) : body),
    });
    return this.#deadLetters;
  }

  /** The worker registry (bucket `<app>-workers`), with `online` computed now, sorted by name. */
  async workers(): Promise<WorkerInfo[]> {
    return listWorkers(await this.#h.keyValue('workers'));
  }

  /** Delayed tasks waiting for their eta, soonest first, at most `limit`. */
  async scheduled(limit: number): Promise<ScheduledTask[]> {
    const t = this.#h.transport();
    await t.connect();
    const store = await t.delayed();
    const entries = (await store.list(1_000_000)).sort((a, b) => a.eta - b.eta).slice(0, limit);
    // One read of the revoked bucket per listed task, not the whole bucket.
    const revocations = entries.length > 0 ? await this.#h.revocations() : undefined;
    return Promise.all(
      entries.map(async (e) => ({
        id: e.taskId,
        task: (await store.fetch(e.seq))?.headers[H.task] ?? null,
        queue: e.queue,
        eta: new Date(e.eta).toISOString(),
        revoked: (await revocations?.isStored(e.taskId)) ?? false,
      })),
    );
  }
}
