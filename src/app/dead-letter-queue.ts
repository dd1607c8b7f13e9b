import { InvalidArgumentError } from '../errors.ts';
import { DLQ, type DeadLetterReason } from '../execution/dead-letter.ts';
import { decodeSniffed } from '../protocol/codec.ts';
import { H } from '../protocol/headers.ts';
import type { AttemptLedger } from '../results/attempt-ledger.ts';
import type { ResultBackend } from '../results/result-backend.ts';
import type { DeadLetter, DeadLetterStore, Transport } from '../transport/transport.ts';
import type { EncodedTask } from '../protocol/envelope.ts';

/** A dead letter, decoded for people and tools (`celeriac dlq list|show`). */
export interface DeadLetterInfo {
  /** Sequence in the dead-letter stream. */
  seq: number;
  queue: string;
  taskId: string;
  /** Task name (`task` header), or null. */
  task: string | null;
  reason: DeadLetterReason | string;
  /** `{ name, message, code }` of the last error, or null. */
  error: { name: string; message: string; code?: string } | null;
  /** Deliveries of the last message. */
  attempts: number;
  /** Deliberate retries before it was dead-lettered. */
  retries: number;
  worker: string | null;
  time: string;
  /** The original headers and bytes. */
  raw: DeadLetter;
}

/** Options of {@link DeadLetterQueue.replay}. */
export interface ReplayOptions {
  /** Replay these task ids. */
  ids?: readonly string[];
  /** Replay every entry (of `queue`, when given). */
  all?: boolean;
  /** Only this queue. */
  queue?: string;
  /** Called after each entry replayed, with how many are done and how many were selected. */
  onProgress?: (done: number, total: number) => void;
  /**
   * Also replay entries refused by the signature checks (reason `unauthenticated`). Replay re-signs
   * with this app's key, so this vouches for bytes nobody signed: only for entries you checked.
   * Without it such entries are skipped (and named ids of them throw). @defaultValue false
   */
  force?: boolean;
}

/** What the app gives the dead-letter queue. */
export interface DeadLetterDeps {
  transport: () => Transport;
  store: () => Promise<DeadLetterStore>;
  backend: () => Promise<ResultBackend>;
  ledger: () => Promise<AttemptLedger>;
  /** The plain body of an encrypted entry, for `show` (throws when it does not decrypt). @defaultValue the stored bytes */
  decrypt?: (headers: Readonly<Record<string, string>>, body: Uint8Array) => Uint8Array;
  /** Sign a replayed message (a replayed entry is old: its signature would be refused). @defaultValue unchanged */
  sign?: (queue: string, task: EncodedTask) => EncodedTask;
}

/**
 * The app's dead-letter stream (`app.deadLetters`): list, show, replay, purge. Replay re-publishes
 * the original bytes with the original task id and a fresh attempt count (no `retries`, `eta` or
 * `expires`: replay is an explicit decision to run it now),
 * after forgetting the task's stored failure so the new run can store its result.
 */
export class DeadLetterQueue {
  /** Built by the app; use `app.deadLetters`. @internal */
  constructor(private readonly deps: DeadLetterDeps) {}

  /** Entries, oldest first (default limit 1000). */
  async list(options: { queue?: string; limit?: number } = {}): Promise<DeadLetterInfo[]> {
    return (await (await this.deps.store()).list(options)).map(describe);
  }

  /** Number of entries. */
  async count(queue?: string): Promise<number> {
    return (await this.deps.store()).count(queue);
  }

  /** The entries of one task id (usually one), with the decoded arguments when they decode. */
  async show(taskId: string): Promise<Array<DeadLetterInfo & { args: unknown }>> {
    const all = await (await this.deps.store()).list({ limit: 1_000_000 });
    return all
      .filter((e) => e.taskId === taskId)
      .map((e) => {
        let args: unknown;
        try {
          args = decodeSniffed(this.deps.decrypt ? this.deps.decrypt(e.headers, e.body) : e.body);
        } catch (err) {
          args = `<undecodable: ${(err as Error).message}>`;
        }
        return { ...describe(e), args };
      });
  }

  /**
   * Re-publish entries to their queue and remove them from the dead-letter stream.
   * @returns the task ids replayed
   * @throws InvalidArgumentError unless `ids` or `all` is given
   */
  async replay(options: ReplayOptions): Promise<string[]> {
    if (!options.all && !(options.ids && options.ids.length > 0)) {
      throw new InvalidArgumentError('replay: give ids (task ids to replay) or all: true');
    }
    const store = await this.deps.store();
    const entries = await store.list({ queue: options.queue, limit: 1_000_000 });
    const wanted = options.ids ? new Set(options.ids) : null;
    const backend = await this.deps.backend();
    const ledger = await this.deps.ledger();
    const transport = this.deps.transport();
    const done: string[] = [];
    const refused = (e: DeadLetter) => e.headers[DLQ.reason] === 'unauthenticated' && !options.force;
    const named = wanted ? entries.filter((e) => wanted.has(e.taskId)) : entries;
    if (wanted && named.some(refused)) {
      throw new InvalidArgumentError('replay: some of these entries were refused by the signature checks (reason unauthenticated); replaying signs them with this app\'s key: pass force: true (--force) once you checked them');
    }
    const selected = named.filter((e) => !refused(e));
    options.onProgress?.(0, selected.length);
    for (const e of selected) {
      const headers: Record<string, string> = {};
      for (const [k, v] of Object.entries(e.headers)) {
        if (k.startsWith('dlq-') || k === H.retries || k === H.eta || k === H.expires || /^nats-/i.test(k)) continue;
        headers[k] = v;
      }
      headers[H.msgId] = `${e.taskId || 'unknown'}:replay:${e.seq}`;
      if (e.taskId) {
        await backend.forget(e.taskId);
        await ledger.forget(e.taskId);
      }
      const task = { id: e.taskId, headers, body: e.body };
      await transport.publish(e.queue, this.deps.sign ? this.deps.sign(e.queue, task) : task);
      await store.remove(e.seq);
      done.push(e.taskId);
      options.onProgress?.(done.length, selected.length);
    }
    return done;
  }

  /** Remove every entry (of one queue, or all). Resolves with how many were removed. */
  async purge(queue?: string): Promise<number> {
    return (await this.deps.store()).purge(queue);
  }
}

function describe(e: DeadLetter): DeadLetterInfo {
  const h = e.headers;
  let error: DeadLetterInfo['error'] = null;
  try {
    if (h[DLQ.error]) error = JSON.parse(h[DLQ.error] as string) as DeadLetterInfo['error'];
  } catch {
    error = { name: 'Error', message: String(h[DLQ.error]) };
  }
  return {
    seq: e.seq,
    queue: e.queue,
    taskId: e.taskId,
    task: h[H.task] ?? null,
    reason: h[DLQ.reason] ?? 'unknown',
    error,
    attempts: Number(h[DLQ.attempts] ?? 0),
    retries: Number(h[DLQ.retries] ?? 0),
    worker: h[DLQ.worker] ?? null,
    time: e.time.toISOString(),
    raw: e,
  };
}
