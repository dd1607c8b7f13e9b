/**
 * In-process stubs of the three delivery providers (an email API, an SMS gateway, a push service),
 * with counters a demo can print and switches a demo can flip: take a provider down, make one
 * recipient busy for a while. Each throws the error class a real provider's answer maps to:
 *
 * | Error | Real-world answer | Kind |
 * |---|---|---|
 * | `ProviderDownError` | 503, connection refused, timeout | transient, the whole provider (trips its circuit) |
 * | `RecipientBusyError` | mailbox full, greylisted, device unreachable | transient, one recipient |
 * | `InvalidRecipientError` | malformed address, not a phone number | permanent: retrying cannot help |
 */

/** The delivery channels. */
export type Channel = 'email' | 'sms' | 'push';

/** The provider is unavailable (503): every call fails until it is back. */
export class ProviderDownError extends Error {
  override name = 'ProviderDownError';
}
/** This recipient cannot take a message right now (mailbox full, device offline). */
export class RecipientBusyError extends Error {
  override name = 'RecipientBusyError';
}
/** The address can never work (not an e-mail address, not an E.164 number). */
export class InvalidRecipientError extends Error {
  override name = 'InvalidRecipientError';
}

/** One message the provider accepted. */
export interface Sent {
  messageId: string;
  to: string;
  text: string;
  /** Epoch ms of the call. */
  at: number;
}

/** A provider stub: `send()` answers like the real API would, and counts every call. */
export class ProviderStub {
  /** Messages accepted, in order. */
  readonly sent: Sent[] = [];
  /** Calls that failed. */
  failed = 0;
  /** While true, every call fails with `ProviderDownError`. */
  down = false;
  /** Recipients that answer `RecipientBusyError` for this many more calls (`Infinity`: always). */
  readonly busy = new Map<string, number>();
  readonly #callsTo = new Map<string, number>();

  constructor(
    readonly name: string,
    readonly channel: Channel,
    readonly valid: RegExp,
    readonly kind: string,
  ) {}

  /** Every call that reached the provider. */
  get calls(): number {
    return this.sent.length + this.failed;
  }

  /** Calls that reached the provider for one recipient. */
  callsTo(to: string): number {
    return this.#callsTo.get(to) ?? 0;
  }

  async send(to: string, text: string): Promise<Sent> {
    this.#callsTo.set(to, this.callsTo(to) + 1);
    await Promise.resolve(); // an API call is asynchronous
    if (this.down) return this.#fail(new ProviderDownError(`503 from ${this.name}`));
    if (!this.valid.test(to)) return this.#fail(new InvalidRecipientError(`${this.kind} ${to} is invalid`));
    const busy = this.busy.get(to) ?? 0;
    if (busy > 0) {
      this.busy.set(to, busy - 1);
      return this.#fail(new RecipientBusyError(`${to} cannot take messages right now`));
    }
    const s: Sent = { messageId: `${this.channel}-${this.sent.length + 1}`, to, text, at: Date.now() };
    this.sent.push(s);
    return s;
  }

  #fail(err: Error): never {
    this.failed++;
    throw err;
  }
}

/** The three providers, one per channel. */
export const providers: Readonly<Record<Channel, ProviderStub>> = {
  email: new ProviderStub('mail-api', 'email', /^[^@\s]+@[^@\s]+\.[a-z]+$/, 'e-mail address'),
  sms: new ProviderStub('sms-gateway', 'sms', /^\+[1-9]\d{7,14}$/, 'phone number'),
  push: new ProviderStub('push-service', 'push', /^tok-[a-z0-9-]+$/, 'device token'),
};
