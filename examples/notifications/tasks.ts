/**
 * The notification system of the seed book's case studies: a notice is dispatched (queue
 * `notices`, with priority bands) and fanned out to one delivery task per channel and address
 * (queues `email`, `sms`, `push`). Each channel has its own rate limit and its provider its own
 * circuit breaker; provider errors are retried or not by their class; what cannot be delivered
 * ends in the dead-letter stream. Notices marked `digest` wait in an inbox for the daily digest,
 * a beat entry. Importing this module opens no connection.
 */
import { type TaskContext, createApp } from '../../src/index.ts';
import { type CircuitChange, circuitBreaker } from '../../plugins/circuit-breaker/index.ts';
import { rateLimit } from '../../plugins/rate-limit/index.ts';
import { type Channel, InvalidRecipientError, ProviderDownError, RecipientBusyError, providers } from './providers.ts';

export const app = createApp({
  name: 'notifications-demo',
  broker: process.env.CELERIAC_BROKER_URL,
  queues: { notices: { priorities: true } },
});

/** A notice to one or more users, over some channels. */
export interface Notice {
  id: string;
  to: string[];
  text: string;
  channels: Channel[];
  /** Dispatched before normal notices (priority 9, the `notices--hi` band). */
  urgent?: boolean;
  /** Not sent now: kept for the daily digest e-mail. */
  digest?: boolean;
}

/** Where each user can be reached (a real system reads this from its user database). */
export const USERS: Readonly<Record<string, Partial<Record<Channel, string>>>> = {
  ada: { email: 'ada@example.com', sms: '+442071838750', push: 'tok-ada' },
  grace: { email: 'grace@example.com', sms: '+12025550143', push: 'tok-grace' },
  linus: { email: 'linus@example.com', sms: '555-0199', push: 'tok-linus' },
  margaret: { email: 'margaret@example.com', push: 'tok-margaret' },
  ken: { email: 'ken@example.com', push: 'tok-ken' },
  barbara: { email: 'barbara@example.com', push: 'tok-barbara' },
};

/** Priority of urgent notices and of their deliveries (7-9 is the high band). */
export const URGENT = 9;

// --- Resilience, per channel and per provider ------------------------------------------------

/** Sends per second each channel's provider allows (their API quotas). */
export const RATES: Readonly<Record<Channel, string>> = { email: '50/s', sms: '10/s', push: '5/s' };

const circuitListeners = new Set<(change: CircuitChange) => void>();
/** Be told of every circuit state change in this process; returns the unsubscribe function. */
export function onCircuitChange(listener: (change: CircuitChange) => void): () => void {
  circuitListeners.add(listener);
  return () => circuitListeners.delete(listener);
}

const deliveryTasks = ['notify.email', 'notify.sms', 'notify.push'];
// Outermost first: a task takes its channel's rate slot, then asks its provider's circuit.
for (const channel of ['email', 'sms', 'push'] as const) {
  app.use(rateLimit({ name: `rate-limit-${channel}`, rate: RATES[channel], tasks: [`notify.${channel}`] }));
}
/**
 * One circuit per provider. Only a provider outage counts: a busy or invalid recipient says
 * nothing about the provider's health.
 */
export const breaker = circuitBreaker({
  tasks: deliveryTasks,
  key: (i) => providers[i.task.slice('notify.'.length) as Channel].name,
  failureThreshold: 3,
  halfOpenAfter: '2s',
  isFailure: (err) => err instanceof ProviderDownError,
  onStateChange: (change) => {
    for (const l of circuitListeners) l(change);
  },
});
app.use(breaker);

/** Transient errors are retried with exponential back-off (0.1 s, 0.2 s, 0.4 s); permanent ones never. */
const retry = {
  autoretryFor: [ProviderDownError, RecipientBusyError],
  dontAutoretryFor: [InvalidRecipientError],
  maxRetries: 3,
  backoff: 'exponential',
  countdown: '100ms',
  jitter: false,
} as const;

// --- Delivery: one task per channel --------------------------------------------------------

/** What a delivery task returns. */
export interface Delivery {
  channel: Channel;
  to: string;
  messageId: string;
  /** Retries it took. */
  retries: number;
}

const deliver = (channel: Channel) => async (ctx: TaskContext, to: string, text: string): Promise<Delivery> => {
  const sent = await providers[channel].send(to, text);
  return { channel, to, messageId: sent.messageId, retries: ctx.retries };
};
export const sendEmail = app.task('notify.email', deliver('email'), { queue: 'email', retry });
export const sendSms = app.task('notify.sms', deliver('sms'), { queue: 'sms', retry });
export const sendPush = app.task('notify.push', deliver('push'), { queue: 'push', retry });
const senders = { email: sendEmail, sms: sendSms, push: sendPush };

// --- Dispatch: fan a notice out -----------------------------------------------------------------

/** Notices dispatched by this process, in the order they ran. */
export const dispatchLog: string[] = [];
/** Digest notices waiting for the daily digest, per user (a real system keeps them in its database). */
const inbox = new Map<string, string[]>();

/** What `notices.dispatch` returns: one task id per delivery, or `digest: true` when it was kept for the digest. */
export interface Dispatched {
  notice: string;
  deliveries: Array<{ channel: Channel; to: string; taskId: string }>;
  digest: boolean;
}

/**
 * Fan a notice out: one delivery task per user, channel and address. The deliveries of an urgent
 * notice carry its priority (it counts on a channel queue declared with `priorities`).
 */
export const dispatch = app.task(
  'notices.dispatch',
  async (_ctx, notice: Notice): Promise<Dispatched> => {
    dispatchLog.push(notice.id);
    if (notice.digest) {
      for (const user of notice.to) inbox.set(user, [...(inbox.get(user) ?? []), notice.text]);
      return { notice: notice.id, deliveries: [], digest: true };
    }
    const deliveries: Dispatched['deliveries'] = [];
    for (const user of notice.to) {
      for (const channel of notice.channels) {
        const to = USERS[user]?.[channel];
        if (to === undefined) continue;
        const r = await senders[channel].applyAsync([to, notice.text], notice.urgent ? { priority: URGENT } : {});
        deliveries.push({ channel, to, taskId: r.id });
      }
    }
    return { notice: notice.id, deliveries, digest: false };
  },
  { queue: 'notices' },
);

/** Send a notice: urgent ones are dispatched first (priority 9). */
export function notify(notice: Notice) {
  return dispatch.applyAsync([notice], notice.urgent ? { priority: URGENT } : {});
}

// --- The daily digest (beat) ------------------------------------------------------------------

/** What `notices.digest` returns: one e-mail per user with waiting notices. */
export interface DigestReport {
  emails: Array<{ user: string; notices: number; taskId: string }>;
}

/** Drain the inbox: one e-mail per user listing their notices of the day. */
export const digest = app.task(
  'notices.digest',
  async (): Promise<DigestReport> => {
    const emails: DigestReport['emails'] = [];
    for (const [user, texts] of [...inbox].sort(([a], [b]) => a.localeCompare(b))) {
      inbox.delete(user);
      const to = USERS[user]?.email;
      if (to === undefined) continue;
      const r = await sendEmail.delay(to, `Your daily digest:\n${texts.map((t) => `- ${t}`).join('\n')}`);
      emails.push({ user, notices: texts.length, taskId: r.id });
    }
    return { emails };
  },
  { queue: 'notices', priority: 0 },
);

/**
 * Every day at 08:00 UTC. `catchUp: 'skip'`: a digest missed while no beat ran is not sent late
 * (the next day's covers it).
 */
export const dailyDigest = app.schedule('daily-digest', { task: 'notices.digest', cron: '0 8 * * *', timezone: 'UTC', catchUp: 'skip' });
