import { isRevisionMismatchError } from '../errors.ts';
import type { KeyValueStore } from '../transport/transport.ts';
import type { Logger } from '../util/logger.ts';
import type { Lease } from '../results/lease.ts';
import { type ResolvedSchedule, dueSlots, fireTime, nextSlot } from './beat-schedule.ts';

/** Settings of {@link BeatRunner}. */
export interface BeatSettings {
  schedules: readonly ResolvedSchedule[];
  /** Last-run state per schedule (bucket `<app>-beat`, key = schedule name, value `{lastSlot}`). */
  state: KeyValueStore;
  /**
   * Publish the task of `schedule` for slot `slotMs`. The task id and `Nats-Msg-Id` are
   * `slotTaskId(name, slot)`, so a slot fired twice (a leader died before recording it) is stored once.
   */
  fire: (schedule: ResolvedSchedule, slotMs: number) => Promise<void>;
  logger: Logger;
  /** The `beat` lease: only processes that define schedules contend for it. */
  lease: Lease;
  /** How often due slots are checked. @defaultValue 250 */
  tickMs?: number;
}

interface Known {
  lastSlot: number | null;
  revision: number;
}

const enc = new TextEncoder();
const dec = new TextDecoder();

/**
 * Periodic tasks ("beat"), run by the scheduler's leader only. For every schedule it reads the last
 * fired slot from KV, fires the due slots (the catch-up policy decides which), and records each
 * fired slot with a revision-checked write — so a new leader continues where the old one stopped,
 * and a slot is fired once: the slot's task id is its dedupe id.
 */
export class BeatRunner {
  readonly #s: BeatSettings;
  readonly #known = new Map<string, Known>();
  #timer: NodeJS.Timeout | undefined;
  #running = false;
  #busy = false;
  fired = 0;

  constructor(settings: BeatSettings) {
    this.#s = settings;
  }

  #renew: NodeJS.Timeout | undefined;

  /** Contend for the `beat` lease (renewed every TTL/3); fire while holding it. */
  async start(): Promise<void> {
    if (this.#s.schedules.length === 0 || this.#renew) return;
    await this.#round();
    this.#renew = setInterval(() => void this.#round(), Math.max(100, Math.floor(this.#s.lease.ttlMs / 3)));
    this.#renew.unref();
  }

  /** True while this process fires the schedules. */
  get leading(): boolean {
    return this.#running;
  }

  async #round(): Promise<void> {
    let leading: boolean;
    try {
      leading = await this.#s.lease.tryAcquire();
    } catch (err) {
      leading = this.#s.lease.held;
      if (!leading) this.#s.logger.warn('beat lease could not be renewed', { error: err });
    }
    if (leading && !this.#running) {
      this.#s.logger.info('beat: this process leads (fires periodic tasks)');
      this.#running = true;
      this.#known.clear();
      this.#timer = setInterval(() => void this.#tick(), this.#s.tickMs ?? 250);
      this.#timer.unref();
      void this.#tick();
    } else if (!leading && this.#running) {
      this.#s.logger.warn('beat: lease lost; another process fires the schedules now');
      this.#halt();
    }
  }

  #halt(): void {
    this.#running = false;
    clearInterval(this.#timer);
    this.#timer = undefined;
  }

  /** Stop firing and give the lease up (shutdown). */
  async stop(): Promise<void> {
    clearInterval(this.#renew);
    this.#renew = undefined;
    this.#halt();
    await this.#s.lease.release().catch(() => undefined);
  }

  /** When each schedule fires next (for the banner and `inspect`). */
  nextFires(now = Date.now()): Array<{ name: string; at: number }> {
    return this.#s.schedules.map((s) => ({ name: s.name, at: fireTime(s, nextSlot(s, now)) }));
  }

  async #tick(): Promise<void> {
    if (this.#busy || !this.#running) return;
    this.#busy = true;
    try {
      for (const s of this.#s.schedules) {
        if (!this.#running) return;
        try {
          await this.#run(s);
        } catch (err) {
          this.#known.delete(s.name);
          this.#s.logger.warn('beat: a schedule could not be fired; retrying', { schedule: s.name, error: err });
        }
      }
    } finally {
      this.#busy = false;
    }
  }

  async #read(name: string): Promise<Known> {
    const e = await this.#s.state.get(name);
    if (!e || e.operation !== 'PUT') return { lastSlot: null, revision: e?.revision ?? 0 };
    try {
      const v = JSON.parse(dec.decode(e.value)) as { lastSlot?: unknown };
      return { lastSlot: typeof v.lastSlot === 'number' ? v.lastSlot : null, revision: e.revision };
    } catch {
      return { lastSlot: null, revision: e.revision };
    }
  }

  /** Record `slot` as fired; false when another leader wrote meanwhile (state re-read next tick). */
  async #record(name: string, k: Known, slot: number): Promise<boolean> {
    try {
      const revision = await this.#s.state.put(name, enc.encode(JSON.stringify({ lastSlot: slot, at: new Date().toISOString() })), {
        expectRevision: k.revision,
      });
      this.#known.set(name, { lastSlot: slot, revision });
      return true;
    } catch (err) {
      if (!isRevisionMismatchError(err)) throw err;
      this.#known.delete(name);
      return false;
    }
  }

  async #run(s: ResolvedSchedule): Promise<void> {
    let k = this.#known.get(s.name);
    if (!k) {
      k = await this.#read(s.name);
      this.#known.set(s.name, k);
    }
    const now = Date.now();
    const slots = dueSlots(s, k.lastSlot, now);
    if (k.lastSlot === null && slots.length === 0) {
      // First time this schedule is seen: start counting from now (nothing in the past fires).
      await this.#record(s.name, k, now);
      return;
    }
    for (const slot of slots) {
      if (!this.#running) return;
      await this.#s.fire(s, slot);
      this.fired++;
      const cur = this.#known.get(s.name) as Known;
      if (!(await this.#record(s.name, cur, slot))) return;
    }
  }
}
