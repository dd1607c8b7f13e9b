import { AckPolicy, DeliverPolicy, type JetStreamManager } from '@nats-io/jetstream';
import type { Msg, NatsConnection, Subscription } from '@nats-io/transport-node';
import { delayedEntry } from '../delayed-entry.ts';
import type { DelayedEntry } from '../transport.ts';
import { parseAckSubject } from './ack-subject.ts';
import { readHeaders } from './pull-subscription.ts';

const NS = 1_000_000;
const EMPTY = new Uint8Array(0);

/** Options of {@link DelayedFollower}. */
export interface DelayedFollowerOptions {
  stream: string;
  /** Subject filter of the consumer (`<app>.delayed.>`). */
  filter: string;
  /** Idle heartbeat of the consumer; three missed ones mean it is lost. @defaultValue 5_000 */
  heartbeatMs?: number;
  onWarning?: ((msg: string) => void) | undefined;
  /** Deliver subject `<inboxPrefix>.dly.<id>` instead of `_CEL_DLY.<id>`. @defaultValue none */
  inboxPrefix?: string | undefined;
}

/** One try at following: its own inbox and consumer, so nothing of an abandoned try is mistaken for the current one. */
interface Attempt {
  readonly name: string;
  readonly sub: Subscription;
  /** Consumer sequence of the last delivered message (to see gaps). */
  cseq: number;
  /** Epoch ms of the last message or heartbeat. */
  seen: number;
  /** The consumer exists (creation answered). */
  ready: boolean;
}

/**
 * Follows a stream from its first message through an ephemeral, ordered push consumer (ack none,
 * memory storage, `headers_only`, flow control and idle heartbeats) on a private inbox: messages are
 * handled synchronously as they are read from the socket and the server sends more only as flow
 * control is answered, so memory stays bounded. Any doubt (a consumer-sequence gap, missed
 * heartbeats, a status reply, a reconnect via {@link reset}) drops the consumer, calls `onReset` and
 * starts over from the first message with a new one. Consumer creation is retried with backoff.
 */
export class DelayedFollower {
  readonly #nc: NatsConnection;
  readonly #jsm: JetStreamManager;
  readonly #o: DelayedFollowerOptions & { heartbeatMs: number };
  readonly #watchdog: NodeJS.Timeout;
  readonly #deletions = new Set<Promise<unknown>>();
  #cur: Attempt | undefined;
  #gen = 0;
  #stopped = false;
  #wake: (() => void) | undefined;

  constructor(
    nc: NatsConnection,
    jsm: JetStreamManager,
    options: DelayedFollowerOptions,
    private readonly onEntry: (e: DelayedEntry) => void,
    private readonly onReset: () => void,
  ) {
    this.#nc = nc;
    this.#jsm = jsm;
    this.#o = { ...options, heartbeatMs: options.heartbeatMs ?? 5_000 };
    this.#watchdog = setInterval(() => this.#check(), this.#o.heartbeatMs);
    this.#watchdog.unref();
    void this.#run(++this.#gen);
  }

  /** Drop the current consumer, call `onReset` and follow again from the first message. */
  reset(reason: string): void {
    if (this.#stopped) return;
    this.#drop();
    this.#o.onWarning?.(`delayed-tasks follower starting over: ${reason}`);
    try {
      this.onReset();
    } catch (err) {
      this.#o.onWarning?.(`delayed-tasks follower: onReset failed: ${(err as Error).message}`);
    }
    void this.#run(++this.#gen);
  }

  /**
   * Stop following; resolves once the consumer was deleted, or after `waitMs` (the server also drops
   * an ephemeral push consumer that lost its subscriber).
   */
  async stop(waitMs = 5_000): Promise<void> {
    if (this.#stopped) return;
    this.#stopped = true;
    this.#gen++;
    clearInterval(this.#watchdog);
    this.#drop();
    this.#wake?.();
    // A consumer whose creation was under way is deleted by #open once the creation answers.
    const deadline = Date.now() + waitMs;
    while (this.#deletions.size > 0 && Date.now() < deadline) {
      let t: NodeJS.Timeout | undefined;
      await Promise.race([Promise.all([...this.#deletions]), new Promise<void>((r) => (t = setTimeout(r, deadline - Date.now())))]);
      clearTimeout(t);
    }
  }

  async #run(gen: number): Promise<void> {
    let delayMs = 250;
    while (!this.#stopped && gen === this.#gen && !this.#nc.isClosed()) {
      try {
        await this.#open(gen);
        return;
      } catch (err) {
        if (this.#stopped || gen !== this.#gen) return;
        this.#o.onWarning?.(`delayed-tasks follower: cannot create its consumer (retrying in ${delayMs} ms): ${(err as Error).message}`);
      }
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, delayMs);
        t.unref();
        this.#wake = () => {
          clearTimeout(t);
          resolve();
        };
      });
      this.#wake = undefined;
      delayMs = Math.min(delayMs * 2, 5_000);
    }
  }

  async #open(gen: number): Promise<void> {
    const id = `${Math.random().toString(36).slice(2)}${Date.now().toString(36)}`;
    const deliverSubject = `${this.#o.inboxPrefix ? `${this.#o.inboxPrefix}.dly` : '_CEL_DLY'}.${id}`;
    // Subscribe first: the SUB reaches the server before the request that creates the consumer.
    const a: Attempt = {
      name: `cel_delayed_${id}`,
      sub: this.#nc.subscribe(deliverSubject, { callback: (_e, m) => this.#onMsg(a, m) }),
      cseq: 0,
      seen: Date.now(),
      ready: false,
    };
    this.#cur = a;
    try {
      await this.#track(
        this.#jsm.consumers.add(this.#o.stream, {
          name: a.name,
          deliver_subject: deliverSubject,
          filter_subject: this.#o.filter,
          deliver_policy: DeliverPolicy.All,
          ack_policy: AckPolicy.None,
          headers_only: true,
          flow_control: true,
          idle_heartbeat: this.#o.heartbeatMs * NS,
          mem_storage: true,
          num_replicas: 1,
        }),
      );
    } catch (err) {
      if (this.#cur === a) this.#drop();
      throw err;
    }
    if (this.#cur !== a || gen !== this.#gen) {
      // Reset or stopped while the consumer was being created.
      this.#deleteConsumer(a.name);
      return;
    }
    a.ready = true;
    a.seen = Date.now();
  }

  #onMsg(a: Attempt, m: Msg): void {
    if (this.#cur !== a) return;
    a.seen = Date.now();
    const reply = m.reply;
    if (reply !== undefined && reply.startsWith('$JS.ACK.')) {
      const info = parseAckSubject(reply);
      if (info.consumerSequence !== a.cseq + 1) {
        this.reset(`consumer sequence gap (expected ${a.cseq + 1}, got ${info.consumerSequence})`);
        return;
      }
      a.cseq = info.consumerSequence;
      const hs = readHeaders(m);
      const subject = m.subject;
      const e = delayedEntry(info.streamSequence, subject.slice(subject.lastIndexOf('.') + 1), (n) => hs.get(n));
      try {
        this.onEntry(e);
      } catch (err) {
        this.#o.onWarning?.(`delayed-tasks follower: onEntry failed on entry ${e.seq}: ${(err as Error).message}`);
      }
      return;
    }
    const h = m.headers;
    if (h && h.code === 100) {
      if (reply) {
        // Flow control request: everything before it was handled, ask for more.
        this.#nc.publish(reply, EMPTY);
        return;
      }
      const stalled = h.get('Nats-Consumer-Stalled');
      if (stalled) this.#nc.publish(stalled, EMPTY);
      const last = Number(h.get('Nats-Last-Consumer'));
      if (h.has('Nats-Last-Consumer') && Number.isSafeInteger(last) && last > a.cseq) {
        this.reset(`heartbeat says ${last} messages were sent, ${a.cseq} arrived`);
      }
      return;
    }
    if (h && h.code >= 400) this.reset(`status ${h.code} ${h.description}`);
  }

  #check(): void {
    const a = this.#cur;
    if (!a?.ready || this.#nc.isClosed()) return;
    if (Date.now() - a.seen > 3 * this.#o.heartbeatMs) this.reset('no heartbeat from the consumer');
  }

  /** Forget the current attempt: unsubscribe its inbox and delete its consumer. */
  #drop(): void {
    const a = this.#cur;
    if (!a) return;
    this.#cur = undefined;
    if (!this.#nc.isClosed()) a.sub.unsubscribe();
    if (a.ready) this.#deleteConsumer(a.name);
  }

  #deleteConsumer(name: string): void {
    if (this.#nc.isClosed()) return;
    // Best effort: an ephemeral push consumer without interest is also removed by the server.
    void this.#track(this.#jsm.consumers.delete(this.#o.stream, name)).catch(() => undefined);
  }

  #track<T>(p: Promise<T>): Promise<T> {
    const settled = p.then(
      () => undefined,
      () => undefined,
    );
    this.#deletions.add(settled);
    void settled.then(() => this.#deletions.delete(settled));
    return p;
  }
}
