import type { App } from './create-app.ts';
import { queueSettingsOf } from './app-options.ts';
import { NatsTransport } from '../transport/nats/nats-transport.ts';
import { blobsBucketName, validateToken } from '../protocol/names.ts';
import { parseDuration } from '../util/duration.ts';

/** What {@link provisionApp} created or brought in line. */
export interface ProvisionReport {
  /** Streams and KV buckets (by name). */
  streams: string[];
  /** Durable consumers of the task stream (one per queue and priority band). */
  consumers: string[];
}

/**
 * Create every stream, KV bucket and queue consumer the app uses, with the app's options (limits,
 * TTLs, `streamReplicas`), or bring existing ones in line: what `celeriac provision` runs. Run it
 * once as a NATS user with the admin role, so workers and producers can start without the right to
 * create or change streams (docs/guide/security.md).
 * @param queues - queues whose consumers to create; priority bands of a queue with `priorities` too.
 * @param buckets - more KV buckets to create, by `app.keyValue()` name (your own, plugins' such as
 * `sagas` or `breakers`), as `name` or `name:ttl` (`sagas:7d`).
 * @throws BrokerPermissionError when this user may not create something; ConfigMismatchError.
 * @throws InvalidArgumentError for a bad queue or bucket name or TTL.
 */
export async function provisionApp(app: App, queues: readonly string[], buckets: readonly string[] = []): Promise<ProvisionReport> {
  for (const q of queues) validateToken(q, 'queue');
  const extra = buckets.map((b) => {
    const [name = '', ttl] = b.split(':');
    validateToken(name, 'bucket');
    return { name, ttl: ttl === undefined ? undefined : parseDuration(ttl, `bucket ${name} ttl`) };
  });
  const t = app.transport();
  await t.connect();
  const name = app.name;
  const streams = [`${name}-tasks`];
  await app.deadLetterStore();
  streams.push(`${name}-dlq`);
  await t.delayed();
  streams.push(`${name}-delayed`);
  const stores: Array<[string, () => Promise<unknown>]> = [
    ...extra.map(({ name, ttl }): [string, () => Promise<unknown>] => [name, () => app.keyValue(name, ttl === undefined ? {} : { ttl })]),
    ['results', () => app.resultBackend()],
    ['attempts', () => app.attemptLedger()],
    ['revoked', () => app.revocations()],
    ['leases', () => app.leaseStore()],
    ['beat', () => app.beatStore()],
    ['chords', () => app.chordJoins()],
    ['control', () => app.keyValue('control')],
    ['workers', () => app.keyValue('workers')],
  ];
  for (const [bucket, open] of stores) {
    await open();
    streams.push(`KV_${name}-${bucket}`);
  }
  // Large results (ADR 0012): the object store is opened, never changed, by workers.
  await t.openBlobs(blobsBucketName(name), { ttlMs: app.options.resultExpiresMs });
  streams.push(`OBJ_${blobsBucketName(name)}`);
  const consumers: string[] = [];
  if (t instanceof NatsTransport) {
    for (const q of queues) {
      const bands = queueSettingsOf(app.options, q).priorities ? [`${q}--hi`, q, `${q}--lo`] : [q];
      for (const b of bands) {
        await t.ensureQueue(b);
        consumers.push(b);
      }
    }
  }
  return { streams, consumers };
}
