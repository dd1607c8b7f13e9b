import type { AppOptions } from '../app/app-options.ts';

/**
 * App options from the environment — the one place Celeriac reads it (besides OTEL_* read by the
 * OpenTelemetry SDK). Read lazily by the CLI, never at import time.
 *
 * | Variable | Option |
 * |---|---|
 * | `CELERIAC_BROKER_URL` | `broker` |
 * | `CELERIAC_SERIALIZER` | `serializer` |
 * | `CELERIAC_RESULT_EXPIRES` | `resultExpires` (`'1d'`, ms) |
 * | `CELERIAC_ACK_WAIT` | `ackWait` |
 * | `CELERIAC_DEFAULT_QUEUE` | `defaultQueue` |
 */
export function fromEnv(env: NodeJS.ProcessEnv = process.env): AppOptions {
  const o: AppOptions = {};
  if (env.CELERIAC_BROKER_URL) o.broker = env.CELERIAC_BROKER_URL;
  if (env.CELERIAC_SERIALIZER) o.serializer = env.CELERIAC_SERIALIZER as AppOptions['serializer'];
  if (env.CELERIAC_RESULT_EXPIRES) o.resultExpires = asDuration(env.CELERIAC_RESULT_EXPIRES);
  if (env.CELERIAC_ACK_WAIT) o.ackWait = asDuration(env.CELERIAC_ACK_WAIT);
  if (env.CELERIAC_DEFAULT_QUEUE) o.defaultQueue = env.CELERIAC_DEFAULT_QUEUE;
  return o;
}

function asDuration(v: string): string | number {
  return /^\d+$/.test(v) ? Number(v) : v;
}
