import type { ServerResponse } from 'node:http';
import type { TaskRow } from './task-table.ts';

/** Settings of a {@link LiveFeed}. */
export interface LiveFeedOptions {
  maxClients: number;
  /** Bytes queued for a slow client before its updates are dropped. */
  clientBufferBytes: number;
  flushEveryMs: number;
  overviewEveryMs: number;
  heartbeatEveryMs: number;
  /** Distinct tasks in one push; changes beyond it are dropped (and counted) until the next push. */
  maxBatch?: number;
  /** The overview to push (errors are pushed as `{ error }`). */
  overview: () => Promise<unknown>;
  /** Headers of every event-stream response (the security headers). */
  headers: Record<string, string>;
}

interface Client {
  res: ServerResponse;
  queue: string[];
  queuedBytes: number;
  blocked: boolean;
  dropped: number;
}

/**
 * The live updates (`GET /events`, Server-Sent Events). Task changes are collected per task id and
 * pushed at most every `flushEveryMs` as one `tasks` event; the overview goes out every
 * `overviewEveryMs` (read once for all clients); idle connections get a comment every
 * `heartbeatEveryMs`. Each client has a bounded queue: while its socket is backed up, messages
 * beyond `clientBufferBytes` are dropped and counted (the next `tasks` event says how many, so the
 * page can reload the table). Timers run only while somebody is connected.
 */
export class LiveFeed {
  readonly #clients = new Set<Client>();
  readonly #pending = new Map<string, TaskRow>();
  readonly #maxBatch: number;
  #droppedInBatch = 0;
  #timers: NodeJS.Timeout[] = [];
  #closed = false;

  constructor(private readonly o: LiveFeedOptions) {
    this.#maxBatch = o.maxBatch ?? 500;
  }

  /** Connected clients. */
  get clients(): number {
    return this.#clients.size;
  }

  /** Record a task's new row (pushed with the next batch). */
  taskChanged(row: TaskRow): void {
    if (this.#clients.size === 0) return;
    if (this.#pending.size >= this.#maxBatch && !this.#pending.has(row.id)) {
      this.#droppedInBatch++;
      return;
    }
    this.#pending.set(row.id, row);
  }

  /**
   * Serve an event stream on `res` (the caller hijacked the reply).
   * @returns false when the feed is full or closed (the caller answers 503).
   */
  add(res: ServerResponse): boolean {
    if (this.#closed || this.#clients.size >= this.o.maxClients) return false;
    res.writeHead(200, { ...this.o.headers, 'content-type': 'text/event-stream; charset=utf-8', 'cache-control': 'no-store', connection: 'keep-alive', 'x-accel-buffering': 'no' });
    const c: Client = { res, queue: [], queuedBytes: 0, blocked: false, dropped: 0 };
    this.#clients.add(c);
    const gone = () => this.#clients.delete(c) && this.#clients.size === 0 && this.#stopTimers();
    res.once('close', gone);
    res.once('error', gone);
    this.#send(c, 'retry: 3000\n\n');
    void this.#pushOverview(c);
    if (this.#timers.length === 0) this.#startTimers();
    return true;
  }

  #startTimers(): void {
    const every = (ms: number, fn: () => void) => {
      const t = setInterval(fn, ms);
      t.unref();
      this.#timers.push(t);
    };
    every(this.o.flushEveryMs, () => this.#flush());
    every(this.o.overviewEveryMs, () => void this.#pushOverview());
    every(this.o.heartbeatEveryMs, () => this.#broadcast(': ping\n\n'));
  }

  #stopTimers(): void {
    for (const t of this.#timers) clearInterval(t);
    this.#timers = [];
    this.#pending.clear();
    this.#droppedInBatch = 0;
  }

  #flush(): void {
    if (this.#pending.size === 0 && this.#droppedInBatch === 0) return;
    const rows = [...this.#pending.values()];
    const droppedHere = this.#droppedInBatch;
    this.#pending.clear();
    this.#droppedInBatch = 0;
    for (const c of this.#clients) {
      const dropped = droppedHere + c.dropped;
      c.dropped = 0;
      this.#send(c, frame('tasks', { rows, dropped }));
    }
  }

  async #pushOverview(only?: Client): Promise<void> {
    let data: unknown;
    try {
      data = await this.o.overview();
    } catch (err) {
      data = { error: err instanceof Error ? err.message : String(err) };
    }
    if (only) {
      if (this.#clients.has(only)) this.#send(only, frame('overview', data));
    } else this.#broadcast(frame('overview', data));
  }

  #broadcast(chunk: string): void {
    for (const c of this.#clients) this.#send(c, chunk);
  }

  #send(c: Client, chunk: string): void {
    if (c.res.destroyed || c.res.writableEnded) return;
    if (c.blocked) {
      if (c.queuedBytes + chunk.length > this.o.clientBufferBytes) {
        c.dropped++;
        return;
      }
      c.queue.push(chunk);
      c.queuedBytes += chunk.length;
      return;
    }
    if (!c.res.write(chunk)) {
      c.blocked = true;
      c.res.once('drain', () => this.#drain(c));
    }
  }

  #drain(c: Client): void {
    c.blocked = false;
    const queued = c.queue;
    c.queue = [];
    c.queuedBytes = 0;
    for (const chunk of queued) this.#send(c, chunk);
  }

  /** End every stream and stop the timers. */
  close(): void {
    this.#closed = true;
    this.#stopTimers();
    for (const c of this.#clients) c.res.end();
    this.#clients.clear();
  }
}

/** One SSE message (JSON has no raw newlines, so one `data:` line). */
function frame(event: string, data: unknown): string {
  return `event: ${event}\ndata: ${JSON.stringify(data)}\n\n`;
}
