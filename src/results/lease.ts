import { isRevisionMismatchError } from '../errors.ts';
import type { KeyValueStore } from '../transport/transport.ts';

/** What a lease key holds (JSON). */
interface LeaseValue {
  holder: string;
  /** Epoch ms after which the lease is free. */
  until: number;
}

const enc = new TextEncoder();
const dec = new TextDecoder();

/**
 * A leader lease in a KV bucket (`<app>-leases`, key = the role, e.g. `scheduler`): taken and renewed
 * with revision-checked writes, so two contenders cannot both win one round. A holder that cannot
 * renew before its lease ends must stop acting as leader; a standby takes over once `until` has
 * passed (within TTL + one renew interval). Expiry compares wall clocks: keep hosts' clocks in sync
 * (NTP), as for any lease.
 */
export class Lease {
  #until = 0;

  constructor(
    private readonly kv: KeyValueStore,
    readonly key: string,
    readonly holder: string,
    readonly ttlMs: number,
  ) {}

  /** Until when this holder is leader by its own last successful write (epoch ms; 0 = not leader). */
  get heldUntil(): number {
    return this.#until;
  }

  /** True while this holder's lease has not ended. */
  get held(): boolean {
    return this.#until > Date.now();
  }

  /**
   * Take the lease if it is free or ours (renewing it), else leave it. Resolves with whether this
   * holder leads now. Throws on store errors (the caller keeps its lease only until `heldUntil`).
   */
  async tryAcquire(now = Date.now()): Promise<boolean> {
    const cur = await this.kv.get(this.key);
    let value: LeaseValue | null = null;
    if (cur && cur.operation === 'PUT' && cur.value.length > 0) {
      try {
        value = JSON.parse(dec.decode(cur.value)) as LeaseValue;
      } catch {
        value = null;
      }
    }
    if (value && value.holder !== this.holder && value.until > now) {
      this.#until = 0;
      return false;
    }
    const next: LeaseValue = { holder: this.holder, until: now + this.ttlMs };
    try {
      await this.kv.put(this.key, enc.encode(JSON.stringify(next)), { expectRevision: cur?.revision ?? 0 });
    } catch (err) {
      if (!isRevisionMismatchError(err)) throw err;
      this.#until = 0;
      return false;
    }
    this.#until = next.until;
    return true;
  }

  /** Give the lease up (at shutdown), so a standby takes over at once. */
  async release(): Promise<void> {
    if (!this.held) return;
    this.#until = 0;
    const cur = await this.kv.get(this.key);
    if (!cur || cur.operation !== 'PUT') return;
    try {
      const v = JSON.parse(dec.decode(cur.value)) as LeaseValue;
      if (v.holder !== this.holder) return;
      await this.kv.put(this.key, enc.encode(JSON.stringify({ holder: this.holder, until: 0 })), { expectRevision: cur.revision });
    } catch {
      /* someone else took it meanwhile, or the store is gone: it expires anyway */
    }
  }
}
