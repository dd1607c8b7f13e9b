import { isRevisionMismatchError } from '../errors.ts';
import type { KeyValueStore } from '../transport/transport.ts';

/** What the ledger knows about the deliveries of one message. */
interface LedgerEntry {
  /** Stream sequence of the message (a retry is a new message: its ledger starts over). */
  seq: number;
  /** Deliveries explained so far (handed back on purpose, or already counted as crashes). */
  accounted: number;
  /** Deliveries that ended without an ack and without being handed back: worker crashes. */
  crashes: number;
  /** Delivery that last ran isolated (the only crash suspect running on its worker), or 0. */
  isolatedAt?: number;
  /** Crashes that happened while this task ran isolated: the evidence that it is the killer. */
  isolatedCrashes?: number;
}

/** Crash counts of a message. */
export interface CrashCount {
  /** Deliveries that ended in a worker death (or a lost delivery) while this task was in flight. */
  crashes: number;
  /** Of those, the ones where it ran isolated: no other suspect could have been the cause. */
  isolatedCrashes: number;
}

function account(e: LedgerEntry, seq: number, upTo: number): LedgerEntry {
  const from = e.accounted + 1;
  const newly = Math.max(0, upTo - e.accounted);
  const iso = e.isolatedAt ?? 0;
  const isolatedDied = newly > 0 && iso >= from && iso <= upTo ? 1 : 0;
  return {
    seq,
    crashes: e.crashes + newly,
    accounted: Math.max(e.accounted, upTo),
    isolatedAt: iso,
    isolatedCrashes: (e.isolatedCrashes ?? 0) + isolatedDied,
  };
}

const enc = new TextEncoder();
const dec = new TextDecoder();
const MAX_CAS = 4;

/**
 * Crash attribution (bucket `<app>-attempts`, key = task id). A redelivery is either explained —
 * the previous delivery was handed back on purpose (unknown task, eta not reached, shutdown), which
 * the worker records here before it naks — or it is a crash: the worker that held it died, hung past
 * AckWait, or lost it with its connection. Only redeliveries and deliberate hand-backs touch the
 * ledger; a first delivery costs nothing.
 */
export class AttemptLedger {
  constructor(readonly kv: KeyValueStore) {}

  async #read(taskId: string, seq: number): Promise<{ e: LedgerEntry; rev: number }> {
    const cur = await this.kv.get(taskId);
    let e: LedgerEntry = { seq, accounted: 0, crashes: 0 };
    if (cur && cur.operation === 'PUT' && cur.value.length > 0) {
      try {
        const v = JSON.parse(dec.decode(cur.value)) as LedgerEntry;
        if (v.seq === seq && Number.isInteger(v.accounted) && Number.isInteger(v.crashes)) e = v;
      } catch {
        /* a corrupt entry starts over */
      }
    }
    return { e, rev: cur?.revision ?? 0 };
  }

  async #update(taskId: string, seq: number, fn: (e: LedgerEntry) => LedgerEntry): Promise<LedgerEntry> {
    for (let i = 0; ; i++) {
      const { e, rev } = await this.#read(taskId, seq);
      const next = fn(e);
      try {
        await this.kv.put(taskId, enc.encode(JSON.stringify(next)), { expectRevision: rev });
        return next;
      } catch (err) {
        if (!isRevisionMismatchError(err) || i >= MAX_CAS) throw err;
      }
    }
  }

  /** Delivery `delivery` of message `seq` is being handed back on purpose: it is not a crash. */
  async recordReturn(taskId: string, seq: number, delivery: number): Promise<void> {
    await this.#update(taskId, seq, (e) => ({ ...account(e, seq, delivery - 1), accounted: Math.max(e.accounted, delivery) }));
  }

  /**
   * Delivery `delivery` (> 1) of message `seq` is about to run: count the earlier deliveries nobody
   * explained as crashes. Resolves with the total crashes of this message.
   */
  async recordRedelivery(taskId: string, seq: number, delivery: number): Promise<CrashCount> {
    const e = await this.#update(taskId, seq, (e) => account(e, seq, delivery - 1));
    return { crashes: e.crashes, isolatedCrashes: e.isolatedCrashes ?? 0 };
  }

  /**
   * Delivery `delivery` is about to run isolated (the only suspect running on its worker): if the
   * worker dies now, the crash is evidence against this task. Also undoes a parked hand-back.
   */
  async recordIsolated(taskId: string, seq: number, delivery: number): Promise<void> {
    await this.#update(taskId, seq, (e) => ({ ...e, seq, accounted: Math.min(e.accounted, delivery - 1), isolatedAt: delivery }));
  }

  /** Forget a task (DLQ replay). */
  async forget(taskId: string): Promise<void> {
    await this.kv.delete(taskId);
  }
}
