/**
 * The lines examples/notifications prints, in order, shared by its memory and NATS tests. Each one
 * states an outcome that only holds when its feature works: without priority bands U-1 would be
 * dispatched last, without the rate limit the last push would leave too early, without the circuit
 * breaker the gateway would be called while down, and so on.
 */
export const NOTIFICATIONS_LINES = [
  /^priority {12}-> dispatched U-1 \(urgent, priority 9\), N-1, N-2, N-3, N-4, N-5$/,
  /^fan-out {13}-> U-1 to ada: email sent, sms sent, push sent$/,
  /^backlog {13}-> 2 e-mails sent, 3 notices kept for the digest$/,
  /^rate limit {10}-> push 5\/s: 6 deliveries, the last 1 s or more after the send$/,
  /^transient error {5}-> e-mail to grace sent after 2 retries \(RecipientBusyError, back-off 0\.1 s, 0\.2 s\)$/,
  /^permanent error {5}-> sms to linus: InvalidRecipientError: phone number 555-0199 is invalid \(1 call, not retried\)$/,
  /^gave up {13}-> push to ken: RecipientBusyError: tok-ken cannot take messages right now \(4 calls: 1 \+ 3 retries\)$/,
  /^circuit sms-gateway -> closed -> open after 3 failed calls \(503\)$/,
  /^circuit sms-gateway -> open -> half-open after 2 s; calls while open: 0$/,
  /^circuit sms-gateway -> half-open -> closed: the trial call went through$/,
  /^sms after outage {4}-> 2 of 2 delivered, 2 of them held back until the circuit half-opened$/,
  /^dead letter {9}-> notify\.sms failed: phone number 555-0199 is invalid$/,
  /^dead letter {9}-> notify\.push retries-exhausted: tok-ken cannot take messages right now$/,
  /^beat {16}-> daily-digest: notices\.digest cron '0 8 \* \* \*' UTC, next run (\d{4}-\d\d-\d\dT08:00:00\.000Z)$/,
  /^digest {14}-> 2 e-mails: ada \(2 notices\), grace \(1 notice\)$/,
  /^providers {11}-> email 6 sent\/2 failed, sms 3 sent\/4 failed, push 7 sent\/4 failed$/,
  /^done$/,
];

/**
 * Check the printed lines against {@link NOTIFICATIONS_LINES}; returns the digest's next run as
 * printed by the beat line.
 */
export function matchNotificationLines(output: string, match: (line: string, re: RegExp) => void): Date {
  const lines = output.trim().split('\n');
  if (lines.length !== NOTIFICATIONS_LINES.length) throw new Error(`expected ${NOTIFICATIONS_LINES.length} lines, got ${lines.length}:\n${output}`);
  NOTIFICATIONS_LINES.forEach((re, i) => match(lines[i] ?? '', re));
  const beat = lines.find((l) => l.startsWith('beat '));
  return new Date(/next run (\S+)$/.exec(beat ?? '')?.[1] ?? NaN);
}
