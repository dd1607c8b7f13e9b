/**
 * OpenTelemetry SDK wiring for the CLI (`celeriac worker`, `celeriac beat`): when the standard
 * `OTEL_*` variables ask for traces (`OTEL_TRACES_EXPORTER`, `OTEL_EXPORTER_OTLP_ENDPOINT` or
 * `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`), start `@opentelemetry/sdk-node`, which reads the rest of
 * the configuration (exporter, protocol, sampler, service name) from the same variables. The SDK is
 * the application's dependency, not Celeriac's: it is loaded only here, only when asked for.
 * @module
 */
import { InvalidArgumentError } from '../errors.ts';

/** True when the environment asks for an SDK. */
export function telemetryRequested(env: NodeJS.ProcessEnv): boolean {
  if (env.OTEL_SDK_DISABLED === 'true') return false;
  const traces = env.OTEL_TRACES_EXPORTER;
  if (traces !== undefined && traces !== '' && traces !== 'none') return true;
  return Boolean(env.OTEL_EXPORTER_OTLP_ENDPOINT || env.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT);
}

/**
 * Start the SDK if the environment asks for it; resolves with a function that flushes and stops it
 * (call it after the worker stopped), or null.
 * @throws InvalidArgumentError when the environment asks for it but `@opentelemetry/sdk-node` is not installed.
 */
export async function startTelemetryFromEnv(env: NodeJS.ProcessEnv, serviceName: string): Promise<(() => Promise<void>) | null> {
  if (!telemetryRequested(env)) return null;
  let mod: { NodeSDK: new (o: { serviceName?: string }) => { start(): void; shutdown(): Promise<void> } };
  try {
    mod = (await import('@opentelemetry/sdk-node' as string)) as typeof mod;
  } catch (err) {
    throw new InvalidArgumentError(
      'OTEL_* variables ask for tracing, but @opentelemetry/sdk-node is not installed: npm install @opentelemetry/sdk-node (or unset them, or set OTEL_SDK_DISABLED=true)',
      { cause: err },
    );
  }
  const sdk = new mod.NodeSDK(env.OTEL_SERVICE_NAME ? {} : { serviceName });
  sdk.start();
  return () => sdk.shutdown();
}
